/* xdp_prog.h — load robdns's XDP filter (bpf/xdp_dns.bpf.c), attach it to an interface in
 * native or generic mode through a BPF link, replace a stale netlink-attached copy, detach.
 *
 * Why a BPF link (BPF_LINK_CREATE, kernel >= 5.9) and not the netlink attach: the link
 * belongs to the file descriptor that holds it, and the kernel detaches the program when
 * the last descriptor closes.  Closing a descriptor needs no privilege, so the daemon
 * detaches on exit after it dropped root (server.user) without keeping CAP_NET_ADMIN, and
 * a crash (SIGKILL, OOM) detaches too: the kernel closes the dead process's descriptors.
 * A link also cannot be replaced through netlink by anyone else, so a second robdns on the
 * same interface fails instead of silently taking the first one's traffic.
 *
 * Without libxdp/libbpf at build time (RD_HAVE_XDP undefined) every function fails with
 * -EOPNOTSUPP and a message saying so.
 */
#ifndef RD_XDP_PROG_H
#define RD_XDP_PROG_H

#include <stddef.h>
#include <stdint.h>

#define RD_XDP_PROG_NAME "rd_xdp_dns"   /* the program's name as the kernel shows it */
#define RD_XDP_MAP_NAME "rd_xsks"

enum { RD_XDP_MODE_AUTO = 0, RD_XDP_MODE_NATIVE = 1, RD_XDP_MODE_GENERIC = 2 };

typedef struct rd_xdp_prog {
    void *obj;           /* struct bpf_object * */
    int prog_fd;
    int xsks_map_fd;
    int ifindex;
    int link_fd;         /* the BPF link: closing it detaches the program */
    uint32_t prog_id;
    int mode;            /* RD_XDP_MODE_NATIVE or RD_XDP_MODE_GENERIC once attached */
    int replaced_stale;  /* 1 when a netlink-attached program of ours was replaced */
    int attached;
} rd_xdp_prog;

/* 1 when this build has AF_XDP support. */
int rd_xdp_supported(void);

/* Load the BPF object obj[0..len) with the UDP port set, and attach it to ifindex in
 * `mode` (AUTO: native, else generic) through a BPF link.  A program named RD_XDP_PROG_NAME
 * attached through netlink (`ip link set ... xdp`, or a robdns before links) is a stale
 * one of ours: it is replaced.  One held by a live link (another running robdns) and any
 * other program are left alone and the call fails.  Needs CAP_NET_ADMIN and CAP_BPF (or
 * CAP_SYS_ADMIN).  Returns 0 or -errno with err filled. */
int rd_xdp_prog_attach(rd_xdp_prog *p, const void *obj, size_t len, uint16_t port,
                       int ifindex, int mode, char *err, size_t errlen);

/* Detach by closing the link, and free.  Needs no privilege.  Safe to call twice.
 * Returns 0, or -EBUSY when the program is still attached afterwards (another process
 * holds a copy of the link's descriptor); everything of ours is released anyway. */
int rd_xdp_prog_detach(rd_xdp_prog *p);

/* Put an AF_XDP socket into the program's queue -> socket map. */
int rd_xdp_prog_set_socket(rd_xdp_prog *p, uint32_t queue, int xsk_fd);

/* The id and name of the XDP program attached to ifindex (any mode), id 0 when none.
 * Returns 0 or -errno. */
int rd_xdp_query_attached(int ifindex, uint32_t *prog_id, char *name, size_t namelen);

#endif
