"""test_worker_start — the data plane starts whole or not at all: a UDP worker that could
not read the database safely must fail the start (its SO_REUSEPORT socket would otherwise
take its share of the queries and answer none), and a Database cannot be rebuilt in
place under readers that may hold it."""

import socket

import pytest

from robdns import _core

ZONE = "$TTL 1h\n@ IN SOA ns hm 1 1 1 1 1\n@ IN NS ns\nns IN A 192.0.2.1\n"


def udp_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


def test_udp_workers_fail_to_start_without_a_free_rcu_reader_slot():
    held = []
    try:
        while True:                     # take every reader slot this process has left
            try:
                held.append(_core.RcuTestReader())
            except RuntimeError:
                break
        s = udp_socket()
        try:
            with pytest.raises(OSError, match="RCU reader slot"):
                _core.UdpWorkers([(s, False, -1)], 64)
        finally:
            s.close()
        held.pop()                      # one slot free again: one worker starts
        s = udp_socket()
        try:
            w = _core.UdpWorkers([(s, False, -1)], 64)
            with pytest.raises(RuntimeError):      # the worker holds that slot...
                _core.RcuTestReader()
            w.stop()
            held.append(_core.RcuTestReader())     # ...and gives it back at stop
        finally:
            s.close()
    finally:
        held.clear()


def test_a_database_cannot_be_initialised_twice():
    img = _core.compile_zone_text("example.com.", ZONE)
    db = _core.Database([img])
    _core.publish(db)
    try:
        # Re-running __init__ would free the rd_db the workers read, with no grace period.
        with pytest.raises(RuntimeError, match="already"):
            db.__init__([])
        assert db.zones == (img,)
        q = bytes.fromhex("123401000001000000000000") + b"\x07example\x03com\x00\x00\x06\x00\x01"
        assert _core.answer(db, q)[3] & 0xF == 0           # still answers: NOERROR
    finally:
        _core.publish(None)
