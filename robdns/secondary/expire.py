"""expire — the expire event of a secondary zone: when no refresh has succeeded for the
SOA EXPIRE interval (or the primary's EDNS EXPIRE, RFC 7314), the copy is no longer
authoritative (RFC 1034 4.3.5) and the zone answers SERVFAIL until a refresh succeeds, as
Knot and NSD do."""

import time

from robdns.log import logger


def plan(sec, name, at):
    """Plan the expiry of `name` at wall time `at` (replacing the one planned)."""
    st = sec.state(name)
    st.expires_at = at
    sec.schedule(name, "expire", at - time.time())


async def run(sec, name):
    st = sec.state(name)
    if st.expires_at is None or time.time() < st.expires_at - 0.05 or st.expired:
        return
    st.expired = True
    logger.error("zone %s expired: no refresh succeeded since %s; answering SERVFAIL", name,
                 time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(st.last_refresh or 0)))
    await sec.daemon.publish_zone(name, None, expired=True)
