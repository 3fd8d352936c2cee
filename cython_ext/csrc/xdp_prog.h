/* xdp_prog.h — load robdns's XDP filter (bpf/xdp_dns.bpf.c), attach it to an interface in
 * native or generic mode, replace a stale copy left by a crashed run, detach it on exit.
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
    uint32_t attach_flags;  /* XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE as attached */
    uint32_t prog_id;
    int mode;            /* RD_XDP_MODE_NATIVE or RD_XDP_MODE_GENERIC once attached */
    int replaced_stale;  /* 1 when a program of ours from an earlier run was replaced */
    int attached;
} rd_xdp_prog;

/* 1 when this build has AF_XDP support. */
int rd_xdp_supported(void);

/* Load the BPF object obj[0..len) with the UDP port set, and attach it to ifindex in
 * `mode` (AUTO: native, else generic).  A program named RD_XDP_PROG_NAME already on the
 * interface is ours from a run that did not detach (a crash): it is replaced.  Any other
 * program is left alone and the call fails.  Returns 0 or -errno with err filled. */
int rd_xdp_prog_attach(rd_xdp_prog *p, const void *obj, size_t len, uint16_t port,
                       int ifindex, int mode, char *err, size_t errlen);

/* Detach (only if the attached program is still ours) and free.  Safe to call twice.
 * Returns 0, or -errno when the detach failed (e.g. EPERM once privileges were dropped:
 * the program then stays until the next start replaces it); the object is freed anyway. */
int rd_xdp_prog_detach(rd_xdp_prog *p);

/* Put an AF_XDP socket into the program's queue -> socket map. */
int rd_xdp_prog_set_socket(rd_xdp_prog *p, uint32_t queue, int xsk_fd);

/* The id and name of the XDP program attached to ifindex (any mode), id 0 when none.
 * Returns 0 or -errno. */
int rd_xdp_query_attached(int ifindex, uint32_t *prog_id, char *name, size_t namelen);

#endif
