# test_log_json.py — log.format: json: the control plane's events (start, zone loaded or
# failed, reload, stop) as one JSON object per line, with their fields.
import json

from serverproc import read_example_zone

BAD = read_example_zone() + "oops IN MX not-a-number mail\n"


def _events(srv):
    lines = [line for line in srv.log_text().splitlines() if line.strip()]
    objs = [json.loads(line) for line in lines]      # every line is one object
    for o in objs:
        assert {"time", "level", "message"} <= o.keys() and o["time"].endswith("Z")
    return objs


def test_json_log_lines_carry_the_events(robdns_server):
    srv = robdns_server(extra={"log": {"level": "info", "format": "json"}})
    srv.write_zone("example.com.", BAD)
    assert srv.reload()["ok"] is False
    srv.write_zone("example.com.", read_example_zone().replace("2026112701", "2026112702"))
    assert srv.reload()["ok"] is True
    assert srv.stop() == 0
    objs = _events(srv)
    by = {}
    for o in objs:
        by.setdefault(o.get("event"), []).append(o)
    start = by["start"][0]
    assert start["pid"] == srv.pid and start["config"] == srv.config_path
    loaded = by["zone_loaded"]
    assert [(o["zone"], o["serial"]) for o in loaded] == [("example.com.", 2026112701),
                                                         ("example.com.", 2026112702)]
    assert loaded[0]["records"] == 27 and loaded[0]["ms"] >= 0
    failed = by["zone_failed"][0]
    assert failed["zone"] == "example.com." and failed["serial"] == 2026112701
    assert failed["level"] == "error" and "not-a-number" in " ".join(failed["errors"])
    assert [o["ok"] for o in by["reload"]] == [False, True]
    assert "serving" in by and "stopped" in by


def test_text_log_stays_the_default(robdns_server):
    srv = robdns_server()
    assert srv.stop() == 0
    text = srv.log_text()
    assert "zone example.com. loaded: serial 2026112701" in text and not text.startswith("{")


def test_a_stop_right_after_the_start_leaves_every_line_json(robdns_server):
    # the stop comes inside the huge-page release's quiet window (Daemon.HUGE_QUIET_S):
    # its task is cancelled, not left pending for asyncio to report in plain text
    srv = robdns_server(extra={"log": {"level": "info", "format": "json"}})
    assert srv.stop() == 0
    assert "Task was destroyed" not in srv.log_text()
    events = [o.get("event") for o in _events(srv)]
    assert "start" in events and "serving" in events and "stopped" in events


def test_a_stop_right_after_sighup_lets_the_reloads_finish(robdns_server):
    # SIGHUP starts a reload as a background task; a second one waits for the first's lock;
    # the SIGTERM right behind them must cut neither off: the stop waits for both
    # (Daemon.background.settle) before the reload thread goes, so each is logged as done
    # and no task is left pending for asyncio to report in plain text.  A zone of 200,000
    # records keeps the first reload busy while the other signals arrive.
    import signal
    import time
    srv = robdns_server(extra={"log": {"level": "info", "format": "json"}})
    big = read_example_zone().replace("2026112701", "2026112702") + "".join(
        f"h{i} 300 IN A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}\n" for i in range(200000))
    srv.write_zone("example.com.", big)
    srv.signal(signal.SIGHUP)
    time.sleep(0.03)
    srv.signal(signal.SIGHUP)
    time.sleep(0.03)
    srv.signal(signal.SIGTERM)
    assert srv.proc.wait(30) == 0
    assert "Task was destroyed" not in srv.log_text()
    objs = _events(srv)
    reloads = [o for o in objs if o.get("event") == "reload"]
    assert [o["ok"] for o in reloads] == [True, True], srv.log_text()[-3000:]
    assert [o["serial"] for o in objs if o.get("event") == "zone_loaded"][-1] == 2026112702
    assert [o.get("event") for o in objs][-1] == "stopped"
