"""notify — NOTIFY out (RFC 1996): when a zone's serial changes, tell each secondary of its
`notify` list, signed with the target's TSIG key, retrying with back-off until one answer
comes back or the retries are spent (RFC 1996 3.6), and keep the outcome for
``robdns ctl zone-status``.  Runs on the control plane's event loop; one task per
(zone, target), a newer serial replacing the task still retrying an older one.
"""

import time

from robdns import metrics
from robdns.log import logger


def make_notify(zone, soa=None):
    """The NOTIFY message for `zone` (RFC 1996 3.3: opcode NOTIFY, AA, the SOA question);
    soa = (ttl, rdata wire) puts the new SOA in the answer section as the hint of 3.7, so
    a secondary that trusts it need not ask for the serial first."""
    import dns.flags
    import dns.message
    import dns.opcode
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype
    import dns.rrset
    q = dns.message.make_query(zone, dns.rdatatype.SOA)
    q.flags = dns.flags.AA            # (the opcode lives in the flags: set it after)
    q.set_opcode(dns.opcode.NOTIFY)
    if soa is not None:
        rd = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.SOA, soa[1], 0, len(soa[1]))
        q.answer.append(dns.rrset.from_rdata(zone, soa[0], rd))
    return q


class Notifier:
    """Sends NOTIFY for the zones; `results` holds, per zone and target, the last
    outcome: serial, state (sending, acked, failed), attempts, rcode or error, time."""

    def __init__(self):
        self.results = {}            # zone -> {target text -> dict}
        self.tasks = {}              # (zone, target text) -> asyncio.Task

    def notify(self, zone, serial, targets, keys, retries=5, timeout=2.0, soa=None):
        """Start (or restart) notifying `targets` (config.NotifyTarget) of `zone` at
        `serial` (soa: (ttl, rdata wire) of the new SOA, or None); keys: {name: TsigKey}."""
        import asyncio          # not before the daemon's workers answer (robdns.daemon)
        for t in targets:
            name = str(t)
            old = self.tasks.get((zone, name))
            if old is not None and not old.done():
                old.cancel()
            res = {"serial": serial, "state": "sending", "attempts": 0, "rcode": None,
                   "error": None, "time": time.time(), "key": t.key}
            self.results.setdefault(zone, {})[name] = res
            self.tasks[(zone, name)] = asyncio.ensure_future(
                self._send(zone, serial, t, keys.get(t.key) if t.key else None, res, retries,
                           timeout, soa))

    async def _send(self, zone, serial, target, key, res, retries, timeout, soa=None):
        import asyncio
        import dns.asyncquery
        import dns.exception
        import dns.rcode
        import dns.tsig
        delay = timeout
        for attempt in range(1, retries + 1):
            q = make_notify(zone, soa)
            if key is not None:
                import dns.name
                q.use_tsig({dns.name.from_text(key.name): dns.tsig.Key(key.name, key.secret, key.algorithm)},
                           keyname=key.name, algorithm=key.algorithm)
            res["attempts"] = attempt
            try:
                metrics.events.notifies_sent += 1
                r = await dns.asyncquery.udp(q, target.host, timeout=delay, port=target.port)
            except dns.exception.Timeout:
                res["error"] = f"no answer in {delay:g} s"
                logger.info("notify %s serial %s to %s: no answer (attempt %d of %d)",
                            zone, serial, target, attempt, retries)
                delay *= 2                  # back off (RFC 1996 3.6 leaves the interval to us)
                continue
            except asyncio.CancelledError:
                raise
            except Exception as e:          # a bad TSIG on the answer, a socket error, ...
                res["error"] = f"{type(e).__name__}: {e}"
                logger.warning("notify %s serial %s to %s: %s", zone, serial, target, res["error"])
                await asyncio.sleep(delay)
                delay *= 2
                continue
            res["rcode"] = dns.rcode.to_text(r.rcode())
            res["time"] = time.time()
            if r.rcode() == dns.rcode.NOERROR:
                res["state"], res["error"] = "acked", None
                logger.info("notify %s serial %s to %s: acknowledged", zone, serial, target,
                            extra={"event": "notify", "zone": zone, "serial": serial,
                                   "remote": str(target), "ok": True})
            else:
                res["state"] = "failed"
                logger.warning("notify %s serial %s to %s: answered %s", zone, serial, target, res["rcode"])
            return
        res["state"] = "failed"
        res["time"] = time.time()
        logger.warning("notify %s serial %s to %s: given up after %d attempts", zone, serial,
                       target, retries, extra={"event": "notify", "zone": zone, "serial": serial,
                                               "remote": str(target), "ok": False})

    async def close(self):
        for task in self.tasks.values():
            task.cancel()
        for task in self.tasks.values():
            try:
                await task
            except BaseException:
                pass
