# xdp.pxd — C declarations of the AF_XDP path: frames (xdp_frame.h), program loader
# (xdp_prog.h) and XSK workers (xdp_worker.h).  The engine types come from includes.engine.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

from includes.engine cimport rd_db, rd_stats
from includes.server cimport rd_rrl_config, rd_dnstap_ring

cdef extern from "server/xdp_frame.h" nogil:
    enum:
        RD_XDP_OK
        RD_XDP_NOT_DNS
        RD_XDP_MALFORMED
        RD_XDP_NO_ANSWER
        RD_XDP_NO_ROOM
    size_t rd_xdp_reply(uint8_t *frame, size_t len, size_t cap, uint16_t port, uint16_t mtu,
                        const rd_db *db, uint8_t *scratch, rd_stats *stats, int *why)
    enum:
        RD_XDP_BATCH_MAX
        RD_XDP_QUERY_MAX
    ctypedef struct rd_xdp_frame_io:
        uint8_t *frame
        size_t len
        size_t cap
        size_t out
        int why
    ctypedef struct rd_xdp_info:
        pass
    void rd_xdp_reply_batch(rd_xdp_frame_io *io, uint32_t n, uint16_t port, uint16_t mtu,
                            const rd_db *db, uint8_t *scratch, rd_stats *stats, void *rrl,
                            uint64_t now_ms, rd_xdp_info *info, void *cookies)

cdef extern from "server/xdp_prog.h" nogil:
    enum:
        RD_XDP_MODE_AUTO
        RD_XDP_MODE_NATIVE
        RD_XDP_MODE_GENERIC
    ctypedef struct rd_xdp_prog:
        int prog_fd
        int xsks_map_fd
        int link_fd
        int ifindex
        uint32_t prog_id
        int mode
        int replaced_stale
        int attached
    int rd_xdp_supported()
    int rd_xdp_prog_attach(rd_xdp_prog *p, const void *obj, size_t len, uint16_t port,
                           int ifindex, int mode, char *err, size_t errlen)
    int rd_xdp_prog_detach(rd_xdp_prog *p)
    int rd_xdp_query_attached(int ifindex, uint32_t *prog_id, char *name, size_t namelen)

cdef extern from "server/xdp_worker.h" nogil:
    enum:
        RD_XDP_ZC_AUTO
        RD_XDP_ZC_ON
        RD_XDP_ZC_OFF
    ctypedef const rd_db *rd_xdp_db_ptr   # C: const rd_db *_Atomic (loaded atomically)
    ctypedef struct rd_xdp_counters:
        uint64_t rx_frames
        uint64_t tx_frames
        uint64_t not_dns
        uint64_t malformed
        uint64_t no_answer
        uint64_t tx_full
        uint64_t no_db
        uint64_t rrl_dropped
        uint64_t rrl_slipped
        uint64_t wakeups
        uint64_t batches
        uint64_t polls
        uint64_t k_rx_dropped
        uint64_t k_rx_ring_full
        uint64_t k_fill_empty
        uint64_t k_invalid
    ctypedef struct rd_xdp_worker:
        pass
    rd_xdp_worker *rd_xdp_worker_open(const char *ifname, uint32_t queue, int zc,
                                      int xsks_map_fd, uint16_t port, uint16_t mtu,
                                      rd_xdp_db_ptr *db, const rd_rrl_config *rrl,
                                      char *err, size_t errlen)
    int rd_xdp_worker_start(rd_xdp_worker *w, int cpu)
    void rd_xdp_worker_stop(rd_xdp_worker *w)
    void rd_xdp_worker_close(rd_xdp_worker *w)
    int rd_xdp_worker_zero_copy(const rd_xdp_worker *w)
    uint32_t rd_xdp_worker_queue(const rd_xdp_worker *w)
    uint32_t rd_xdp_worker_tx_budget(const rd_xdp_worker *w)
    void rd_xdp_worker_counters(const rd_xdp_worker *w, rd_xdp_counters *c, rd_stats *s)
    void rd_xdp_worker_set_dnstap(rd_xdp_worker *w, rd_dnstap_ring *tap)

cdef extern from "server/rcu.h" nogil:
    rd_xdp_db_ptr rd_db_global        # the daemon's one RCU database pointer
    void rd_rcu_synchronize()
