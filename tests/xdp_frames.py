"""xdp_frames — build and check Ethernet/IP/UDP frames in plain Python for the XDP tests.

An independent implementation of the header formats (RFC 791, RFC 8200, RFC 768, IEEE
802.1Q) and the Internet checksum (RFC 1071), to check what the C code builds.
"""

import ipaddress
import struct

ETH_IP4, ETH_IP6, ETH_8021Q, ETH_8021AD = 0x0800, 0x86DD, 0x8100, 0x88A8
CLIENT_MAC = bytes.fromhex("020000000002")
SERVER_MAC = bytes.fromhex("020000000001")


def inet_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_checksum(src: bytes, dst: bytes, udp: bytes) -> int:
    pseudo = src + dst + struct.pack("!BBH", 0, 17, len(udp)) if len(src) == 4 else \
        src + dst + struct.pack("!IxxxB", len(udp), 17)
    return inet_checksum(pseudo + udp)


def udp_header(sport, dport, payload, src, dst, checksum=True):
    hdr = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    if not checksum:
        return hdr
    c = udp_checksum(src, dst, hdr + payload) or 0xFFFF
    return hdr[:6] + struct.pack("!H", c)


def query_frame(payload: bytes, family=4, sport=40000, dport=53, vlans=(), ip_options=b"",
                frag=0, pad_to=0, tos=0, src_mac=CLIENT_MAC, dst_mac=SERVER_MAC):
    """An Ethernet frame carrying `payload` over UDP from the client to the server."""
    if family == 4:
        src, dst = ipaddress.ip_address("198.18.0.2").packed, ipaddress.ip_address("198.18.0.1").packed
    else:
        src, dst = ipaddress.ip_address("2001:db8:53::2").packed, ipaddress.ip_address("2001:db8:53::1").packed
    udp = udp_header(sport, dport, payload, src, dst) + payload
    if family == 4:
        ihl = 5 + len(ip_options) // 4
        hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, ihl * 4 + len(udp), 0x1234, frag,
                          64, 17, 0, src, dst) + ip_options
        hdr = hdr[:10] + struct.pack("!H", inet_checksum(hdr)) + hdr[12:]
        l3, ethertype = hdr + udp, ETH_IP4
    else:
        hdr = struct.pack("!IHBB16s16s", 0x60000000 | tos << 20, len(udp), 17, 64, src, dst)
        l3, ethertype = hdr + udp, ETH_IP6
    eth = dst_mac + src_mac
    for tpid, vid in vlans:
        eth += struct.pack("!HH", tpid, vid)
    frame = eth + struct.pack("!H", ethertype) + l3
    return frame + b"\0" * max(0, pad_to - len(frame))


def parse_reply(frame: bytes):
    """Check a reply frame's headers and checksums; return a dict of its facts."""
    out = {"dst_mac": frame[:6], "src_mac": frame[6:12], "vlans": []}
    off = 12
    (ethertype,) = struct.unpack_from("!H", frame, off)
    off += 2
    while ethertype in (ETH_8021Q, ETH_8021AD):
        tci, inner = struct.unpack_from("!HH", frame, off)
        out["vlans"].append((ethertype, tci))
        ethertype = inner
        off += 4
    if ethertype == ETH_IP4:
        vihl, tos, tot, _id, frag, ttl, proto, csum, src, dst = struct.unpack_from("!BBHHHBBH4s4s", frame, off)
        assert vihl == 0x45, "reply IPv4 header must be 20 bytes, version 4"
        assert inet_checksum(frame[off:off + 20]) == 0, "bad IPv4 header checksum"
        assert off + tot == len(frame), "IPv4 total length must cover the frame exactly"
        assert proto == 17 and ttl > 0 and not frag & 0x3FFF
        out.update(family=4, tos=tos, src=src, dst=dst)
        udp = frame[off + 20:]
    else:
        assert ethertype == ETH_IP6
        vtf, plen, nh, hlim, src, dst = struct.unpack_from("!IHBB16s16s", frame, off)
        assert vtf >> 28 == 6 and nh == 17 and hlim > 0
        assert off + 40 + plen == len(frame), "IPv6 payload length must cover the frame"
        out.update(family=6, tos=(vtf >> 20) & 0xFF, src=src, dst=dst)
        udp = frame[off + 40:]
    sport, dport, ulen, ucsum = struct.unpack_from("!HHHH", udp)
    assert ulen == len(udp), "UDP length must cover the payload exactly"
    assert ucsum != 0, "UDP checksum must be present (mandatory for IPv6, RFC 8200 8.1)"
    assert udp_checksum(src, dst, udp) == 0, "bad UDP checksum"
    out.update(sport=sport, dport=dport, payload=udp[8:])
    return out
