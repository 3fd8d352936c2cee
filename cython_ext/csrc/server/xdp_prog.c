/* xdp_prog.c — loader of robdns's XDP filter: load, attach through a BPF link
 * (native/generic), replace a stale netlink-attached copy, detach by closing the link.  Control-plane code: runs once at start and stop. */
#include "xdp_prog.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifdef RD_HAVE_XDP

#include <stdarg.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

int rd_xdp_supported(void) { return 1; }

/* libbpf's diagnostics would go to stderr; keep the last one to put into our own error
 * message instead (only the control thread loads programs). */
static char last_libbpf_msg[256];

static int libbpf_capture(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (level == LIBBPF_DEBUG)
        return 0;
    int n = vsnprintf(last_libbpf_msg, sizeof last_libbpf_msg, fmt, ap);
    while (n > 0 && (size_t)n <= sizeof last_libbpf_msg &&
           last_libbpf_msg[n - 1] == '\n')
        last_libbpf_msg[--n] = 0;
    return 0;
}

static void fail(char *err, size_t errlen, int rc, const char *what)
{
    if (last_libbpf_msg[0])
        snprintf(err, errlen, "%s: %s (%s)", what, strerror(-rc), last_libbpf_msg);
    else
        snprintf(err, errlen, "%s: %s", what, strerror(-rc));
}

int rd_xdp_query_attached(int ifindex, uint32_t *prog_id, char *name, size_t namelen)
{
    struct bpf_xdp_query_opts q;
    memset(&q, 0, sizeof q);
    q.sz = sizeof q;
    *prog_id = 0;
    if (namelen)
        name[0] = 0;
    int rc = bpf_xdp_query(ifindex, 0, &q);
    if (rc < 0)
        return rc;
    *prog_id = q.prog_id ? q.prog_id : (q.drv_prog_id ? q.drv_prog_id : q.skb_prog_id);
    if (!*prog_id || !namelen)
        return 0;
    int fd = bpf_prog_get_fd_by_id(*prog_id);
    if (fd < 0)
        return -errno;
    struct bpf_prog_info info;
    uint32_t ilen = sizeof info;
    memset(&info, 0, sizeof info);
    rc = bpf_obj_get_info_by_fd(fd, &info, &ilen);
    close(fd);
    if (rc < 0)
        return -errno;
    snprintf(name, namelen, "%s", info.name);
    return 0;
}

/* Which mode flag the program attached to ifindex uses (0 when none). */
static uint32_t attached_mode_flags(int ifindex)
{
    struct bpf_xdp_query_opts q;
    memset(&q, 0, sizeof q);
    q.sz = sizeof q;
    if (bpf_xdp_query(ifindex, 0, &q) < 0)
        return 0;
    if (q.attach_mode == XDP_ATTACHED_DRV)
        return XDP_FLAGS_DRV_MODE;
    if (q.attach_mode == XDP_ATTACHED_SKB)
        return XDP_FLAGS_SKB_MODE;
    if (q.attach_mode == XDP_ATTACHED_HW)
        return XDP_FLAGS_HW_MODE;
    return 0;
}

static int set_port(struct bpf_object *obj, uint16_t port)
{
    struct bpf_map *m;
    bpf_object__for_each_map(m, obj) {
        const char *n = bpf_map__name(m);
        size_t nl = strlen(n);
        if (nl >= 7 && strcmp(n + nl - 7, ".rodata") == 0) {
            size_t size = 0;
            bpf_map__initial_value(m, &size);
            if (size != sizeof port)
                return -EINVAL;     /* the object is not the one this loader knows */
            return bpf_map__set_initial_value(m, &port, sizeof port);
        }
    }
    return -ENOENT;
}

int rd_xdp_prog_attach(rd_xdp_prog *p, const void *objbuf, size_t len, uint16_t port,
                       int ifindex, int mode, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->prog_fd = p->xsks_map_fd = p->link_fd = -1;
    p->ifindex = ifindex;
    last_libbpf_msg[0] = 0;
    libbpf_set_print(libbpf_capture);

    /* Refuse early when someone else's program holds the interface. */
    uint32_t old_id = 0;
    char old_name[64];
    int rc = rd_xdp_query_attached(ifindex, &old_id, old_name, sizeof old_name);
    if (rc == -EPERM && old_id) {
        /* Reading another program's name (BPF_PROG_GET_FD_BY_ID) needs CAP_SYS_ADMIN,
         * which the systemd unit does not grant: say what to do instead. */
        snprintf(err, errlen, "the interface already has an XDP program (id %u) and robdns "
                 "may not inspect it without CAP_SYS_ADMIN; if it is a stale one of "
                 "robdns, remove it: ip link set dev <interface> xdp off", old_id);
        return rc;
    }
    if (rc < 0) {
        fail(err, errlen, rc, "querying the interface's XDP program");
        return rc;
    }
    if (old_id && strcmp(old_name, RD_XDP_PROG_NAME) != 0) {
        snprintf(err, errlen, "the interface already has another XDP program ('%s', id %u); "
                 "robdns does not replace programs it did not load", old_name, old_id);
        return -EBUSY;
    }

    LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "robdns_xdp");
    struct bpf_object *obj = bpf_object__open_mem(objbuf, len, &oo);
    if (!obj) {
        rc = -errno;
        fail(err, errlen, rc, "opening the XDP program object");
        return rc;
    }
    p->obj = obj;
    rc = set_port(obj, port);
    if (rc < 0) {
        fail(err, errlen, rc, "setting the port in the XDP program");
        goto out;
    }
    rc = bpf_object__load(obj);
    if (rc < 0) {
        fail(err, errlen, rc, "loading the XDP program (verifier)");
        goto out;
    }
    struct bpf_program *prog = bpf_object__find_program_by_name(obj, RD_XDP_PROG_NAME);
    p->xsks_map_fd = bpf_object__find_map_fd_by_name(obj, RD_XDP_MAP_NAME);
    if (!prog || p->xsks_map_fd < 0) {
        rc = -ENOENT;
        snprintf(err, errlen, "the XDP object lacks program %s or map %s",
                 RD_XDP_PROG_NAME, RD_XDP_MAP_NAME);
        goto out;
    }
    p->prog_fd = bpf_program__fd(prog);

    /* A stale program of ours, attached through netlink (`ip link set ... xdp`, or a
     * robdns from before links): detach it first, naming its fd so that a program put
     * there in between is never removed.  A BPF link cannot be created while any
     * program is attached, and a netlink detach fails with EBUSY on a program held by a
     * live link: that is another running robdns, whose traffic is not ours to take. */
    if (old_id) {
        int old_fd = bpf_prog_get_fd_by_id(old_id);
        if (old_fd < 0) {
            rc = -errno;
            fail(err, errlen, rc, "opening the stale XDP program");
            goto out;
        }
        uint32_t old_mode = attached_mode_flags(ifindex);
        LIBBPF_OPTS(bpf_xdp_attach_opts, ao, .old_prog_fd = old_fd);
        last_libbpf_msg[0] = 0;
        rc = bpf_xdp_detach(ifindex, old_mode, &ao);
        close(old_fd);
        if (rc == -EBUSY) {
            snprintf(err, errlen, "the interface's robdns XDP program (id %u) is held by a "
                     "running process: is another robdns serving on it?", old_id);
            goto out;
        }
        if (rc < 0 && rc != -EEXIST) {      /* EEXIST: it went away meanwhile */
            fail(err, errlen, rc, "detaching the stale XDP program");
            goto out;
        }
    }
    static const uint32_t native_then_generic[] = { XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE };
    const uint32_t *modes = native_then_generic;
    int nmodes = 2;
    if (mode == RD_XDP_MODE_NATIVE)
        nmodes = 1;
    else if (mode == RD_XDP_MODE_GENERIC)
        modes = native_then_generic + 1, nmodes = 1;
    rc = -EINVAL;
    for (int i = 0; i < nmodes; i++) {
        last_libbpf_msg[0] = 0;
        /* Only mode flags are valid for an XDP link; the link fails with EBUSY/EEXIST if
         * a program appeared meanwhile, so nothing is ever clobbered. */
        LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = modes[i]);
        rc = bpf_link_create(p->prog_fd, ifindex, BPF_XDP, &lo);
        if (rc >= 0) {
            p->link_fd = rc;
            rc = 0;
            p->mode = modes[i] == XDP_FLAGS_DRV_MODE ? RD_XDP_MODE_NATIVE : RD_XDP_MODE_GENERIC;
            break;
        }
    }
    if (rc < 0) {
        fail(err, errlen, rc, mode == RD_XDP_MODE_NATIVE ? "attaching the XDP program in native mode"
             : mode == RD_XDP_MODE_GENERIC ? "attaching the XDP program in generic mode"
             : "attaching the XDP program (native, then generic)");
        goto out;
    }
    p->attached = 1;
    p->replaced_stale = old_id != 0;
    char dummy[1];
    rd_xdp_query_attached(ifindex, &p->prog_id, dummy, 0);
    return 0;
out:
    bpf_object__close(obj);
    p->obj = NULL;
    p->prog_fd = p->xsks_map_fd = -1;
    return rc;
}

int rd_xdp_prog_detach(rd_xdp_prog *p)
{
    int rc = 0;
    if (p->attached) {
        /* Closing the link's last descriptor detaches the program (the kernel releases
         * the link synchronously in close()).  No bpf() call: after the privilege drop
         * it could be refused (kernel.unprivileged_bpf_disabled), close() never is. */
        close(p->link_fd);
        p->link_fd = -1;
        p->attached = 0;
        /* Still there: a copy of the descriptor lives elsewhere (a child that inherited
         * it); say so rather than claim a detach that did not happen. */
        uint32_t now_id = 0;
        char dummy[1];
        if (rd_xdp_query_attached(p->ifindex, &now_id, dummy, 0) == 0 &&
            now_id != 0 && now_id == p->prog_id)
            rc = -EBUSY;
    }
    if (p->obj) {
        bpf_object__close((struct bpf_object *)p->obj);
        p->obj = NULL;
    }
    p->prog_fd = p->xsks_map_fd = -1;
    return rc;
}

int rd_xdp_prog_set_socket(rd_xdp_prog *p, uint32_t queue, int xsk_fd)
{
    if (bpf_map_update_elem(p->xsks_map_fd, &queue, &xsk_fd, 0) < 0)
        return -errno;
    return 0;
}

#else /* !RD_HAVE_XDP */

int rd_xdp_supported(void) { return 0; }

int rd_xdp_prog_attach(rd_xdp_prog *p, const void *obj, size_t len, uint16_t port,
                       int ifindex, int mode, char *err, size_t errlen)
{
    (void)obj; (void)len; (void)port; (void)ifindex; (void)mode;
    memset(p, 0, sizeof *p);
    snprintf(err, errlen, "this robdns was built without AF_XDP support "
             "(libxdp/libbpf headers were missing at build time)");
    return -EOPNOTSUPP;
}

int rd_xdp_prog_detach(rd_xdp_prog *p) { (void)p; return 0; }

int rd_xdp_prog_set_socket(rd_xdp_prog *p, uint32_t queue, int xsk_fd)
{
    (void)p; (void)queue; (void)xsk_fd;
    return -EOPNOTSUPP;
}

int rd_xdp_query_attached(int ifindex, uint32_t *prog_id, char *name, size_t namelen)
{
    (void)ifindex;
    *prog_id = 0;
    if (namelen)
        name[0] = 0;
    return -EOPNOTSUPP;
}

#endif
