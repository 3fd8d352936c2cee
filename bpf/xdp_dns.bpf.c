/* xdp_dns.bpf.c — robdns's XDP filter: UDP to the DNS port goes to the AF_XDP socket of its
 * RX queue, every other frame (SSH, TCP DNS, ICMP, ARP/ND, fragments, malformed headers)
 * goes to the kernel stack untouched (XDP_PASS).
 *
 * Built with the package (setup.py, through bpf/bpf_build.py: `clang -O2 -g -target bpf`) into
 * robdns/data/xdp_dns.bpf.o, which the daemon loads, so the server needs no compiler; the
 * port is set by the loader in .rodata before the program is loaded, so the verifier sees
 * a constant.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef ETH_P_8021Q
#define ETH_P_8021Q 0x8100
#endif
#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif
#define RD_IP_MF 0x2000
#define RD_IP_OFFSET 0x1fff
#define RD_MAX_VLAN_TAGS 2      /* 802.1ad QinQ: outer S-tag + inner C-tag */
#define RD_MAX_QUEUES 256
/* What a 4 KiB UMEM frame holds after XDP_PACKET_HEADROOM (256): a longer frame could not
 * reach the AF_XDP socket (the kernel would drop it), so the stack gets it instead. */
#define RD_MAX_XSK_FRAME (4096 - 256)

/* The loader overwrites this before loading (bpf_map__initial_value of .rodata). */
const volatile struct {
    __u16 port;                 /* UDP destination port, host order */
} rd_cfg = { .port = 53 };

/* One AF_XDP socket per RX queue, keyed by queue index. */
struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, RD_MAX_QUEUES);
    __type(key, __u32);
    __type(value, __u32);
} rd_xsks SEC(".maps");

struct vlan_tag {
    __be16 tci;
    __be16 encapsulated_proto;
};

SEC("xdp")
int rd_xdp_dns(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct udphdr *udp;
    void *l3;
    __u16 proto;

    if ((void *)(eth + 1) > end || end - data > RD_MAX_XSK_FRAME)
        return XDP_PASS;
    proto = eth->h_proto;
    l3 = eth + 1;

    /* IEEE 802.1Q / 802.1ad: skip up to two tags; the reply keeps them (built in place). */
#pragma unroll
    for (int i = 0; i < RD_MAX_VLAN_TAGS; i++) {
        if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
            break;
        struct vlan_tag *tag = l3;
        if ((void *)(tag + 1) > end)
            return XDP_PASS;
        proto = tag->encapsulated_proto;
        l3 = tag + 1;
    }

    if (proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip = l3;
        if ((void *)(ip + 1) > end)
            return XDP_PASS;
        /* Malformed header (RFC 791 3.1: IHL >= 5) and fragments go to the stack, which
         * reassembles; a DNS query in a fragment is rare and must still be answered. */
        if (ip->version != 4 || ip->ihl < 5)
            return XDP_PASS;
        if (ip->frag_off & bpf_htons(RD_IP_MF | RD_IP_OFFSET))
            return XDP_PASS;
        if (ip->protocol != IPPROTO_UDP)
            return XDP_PASS;
        udp = (void *)ip + ip->ihl * 4;
    } else if (proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr *ip6 = l3;
        if ((void *)(ip6 + 1) > end)
            return XDP_PASS;
        if (ip6->version != 6)
            return XDP_PASS;
        /* Only UDP directly after the fixed header; extension headers (including the
         * Fragment header, RFC 8200 4.5) go to the stack. */
        if (ip6->nexthdr != IPPROTO_UDP)
            return XDP_PASS;
        udp = (void *)(ip6 + 1);
    } else {
        return XDP_PASS;
    }

    if ((void *)(udp + 1) > end)
        return XDP_PASS;
    if (udp->dest != bpf_htons(rd_cfg.port))
        return XDP_PASS;
    if (bpf_ntohs(udp->len) < sizeof(*udp))
        return XDP_PASS;

    /* No socket on this queue (worker stopped or crashed): fall back to the stack. */
    return bpf_redirect_map(&rd_xsks, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
