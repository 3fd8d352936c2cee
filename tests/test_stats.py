"""test_stats — the `stats` command's memory figures come from the kernel's accounting and
the extension's live-object counts, never from walking Python objects."""

import gc

from robdns import _core, stats

ZONE = "$TTL 1h\n@ IN SOA ns hm 1 1 1 1 1\n@ IN NS ns\nns IN A 192.0.2.1\n"


def test_live_objects_count_databases_and_images_as_made_and_freed():
    gc.collect()
    before = _core.live_objects()
    img = _core.compile_zone_text("example.com.", ZONE)
    db = _core.Database([img])
    during = _core.live_objects()
    assert during["databases"] == before["databases"] + 1
    assert during["zone_images"] == before["zone_images"] + 1
    del db, img
    assert _core.live_objects() == before


def test_memory_reads_proc_status_and_walks_no_objects(tmp_path, monkeypatch):
    status = tmp_path / "status"
    status.write_text("Name:\tx\nVmHWM:\t  9000 kB\nVmRSS:\t  8000 kB\nRssAnon:\t 5000 kB\n"
                      "RssFile:\t 3000 kB\nThreads:\t4\n")

    def walked():
        raise AssertionError("stats walked every Python object")
    monkeypatch.setattr(gc, "get_objects", walked)
    mem = stats.memory(str(status))
    assert (mem["rss_kib"], mem["peak_rss_kib"], mem["anon_kib"], mem["file_kib"]) == (8000, 9000, 5000, 3000)
    assert set(_core.live_objects()) <= set(mem)
    assert stats.memory()["rss_kib"] > 1000          # this process's own figures
