"""xfr_request — what a secondary sends its primary, without asyncio: the transfer request
(built and signed in C, zone/xfrin_query.c) with an unpredictable message ID, and whether a
primary's host is an address literal (no resolver needed).  Shared by the refresh
(robdns.secondary.client) and the start's first transfer (robdns.first_transfer), which
runs before asyncio is imported."""

import os
import socket


def message_id():
    """A message ID for a query to a primary: unpredictable (RFC 5452 9.2)."""
    return int.from_bytes(os.urandom(2), "big")


def transfer_request(zone, qtype, serial=0, key=None):
    """(wire, message id, request MAC) of an AXFR or IXFR request; an IXFR carries the
    serial we have as an SOA in the authority section (RFC 1995 3)."""
    from robdns import _core
    qid = message_id()
    wire, mac = _core.xfr_query(zone, qtype, qid, serial, key)
    return wire, qid, (mac if key is not None else None)


def literal_family(host):
    """AF_INET or AF_INET6 when `host` is an address literal, else None."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return family
        except (OSError, ValueError):
            pass
    return None
