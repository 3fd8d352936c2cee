"""cookies — an independent Python model of DNS Cookies for the tests: SipHash-2-4 written
from the paper (Aumasson and Bernstein, 2012, section 2) and the RFC 9018 server cookie
built on it, plus helpers to put a COOKIE option in a query and read it from a response."""

import ipaddress
import struct

import dns.edns
import dns.message

COOKIE = 10          # EDNS option code (RFC 7873 8)
BADCOOKIE = 23       # extended RCODE (RFC 7873 8)
MASK = (1 << 64) - 1


def _rotl(x, b):
    return ((x << b) | (x >> (64 - b))) & MASK


def siphash24(key: bytes, data: bytes) -> bytes:
    """SipHash-2-4 of data under the 16-byte key, as the reference code's 8 output bytes."""
    k0, k1 = struct.unpack("<QQ", key)
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D,
         k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]

    def rounds(n):
        for _ in range(n):
            v[0] = (v[0] + v[1]) & MASK; v[1] = _rotl(v[1], 13); v[1] ^= v[0]; v[0] = _rotl(v[0], 32)
            v[2] = (v[2] + v[3]) & MASK; v[3] = _rotl(v[3], 16); v[3] ^= v[2]
            v[0] = (v[0] + v[3]) & MASK; v[3] = _rotl(v[3], 21); v[3] ^= v[0]
            v[2] = (v[2] + v[1]) & MASK; v[1] = _rotl(v[1], 17); v[1] ^= v[2]; v[2] = _rotl(v[2], 32)

    whole = len(data) - len(data) % 8
    for i in range(0, whole, 8):
        (m,) = struct.unpack_from("<Q", data, i)
        v[3] ^= m
        rounds(2)
        v[0] ^= m
    last = data[whole:] + b"\0" * (7 - len(data) % 8) + bytes([len(data) & 0xFF])
    (b,) = struct.unpack("<Q", last)
    v[3] ^= b
    rounds(2)
    v[0] ^= b
    v[2] ^= 0xFF
    rounds(4)
    return struct.pack("<Q", v[0] ^ v[1] ^ v[2] ^ v[3])


def server_cookie(secret: bytes, client_cookie: bytes, client_ip, timestamp: int,
                  reserved: bytes = b"\0\0\0") -> bytes:
    """RFC 9018 4.2/4.4: Version 1 | Reserved | Timestamp | SipHash-2-4(Client Cookie |
    Version | Reserved | Timestamp | Client-IP, Server Secret)."""
    head = bytes([1]) + reserved + struct.pack("!I", timestamp & 0xFFFFFFFF)
    ip = ipaddress.ip_address(client_ip).packed
    return head + siphash24(secret, client_cookie + head + ip)


def query(name="www.example.com.", rtype="A", cookie=None, **kw):
    """A query with EDNS(0) and, when `cookie` is bytes, a COOKIE option carrying it."""
    opts = [dns.edns.GenericOption(COOKIE, cookie)] if cookie is not None else []
    return dns.message.make_query(name, rtype, use_edns=0, payload=1232, options=opts, **kw)


def response_cookie(msg):
    """The COOKIE option data of a response (dns.message.Message), or None."""
    for o in msg.options:
        if o.otype == COOKIE:
            return o.to_wire() if hasattr(o, "to_wire") else bytes(o.data)
    return None
