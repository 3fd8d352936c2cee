# server.pxd — C declarations of the daemon's data plane: RCU (rcu.h), its self-test and
# the UDP loops (udp_loop.h), their response rate limiting (rrl.h) and the TCP loops (tcp_loop.h).
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from includes.engine cimport rd_db, rd_stats

cdef extern from "server/rcu.h" nogil:
    ctypedef struct rd_rcu_reader:
        pass
    rd_rcu_reader *rd_rcu_register()
    void rd_rcu_unregister(rd_rcu_reader *r)
    void rd_rcu_quiescent(rd_rcu_reader *r)
    void rd_rcu_offline(rd_rcu_reader *r)
    void rd_rcu_online(rd_rcu_reader *r)
    void rd_rcu_synchronize()
    uint64_t rd_rcu_grace_periods()

cdef extern from "server/rcu.h" nogil:
    const rd_db *rd_db_current()
    const rd_db *rd_db_exchange(const rd_db *db)
    void rd_db_pin(const rd_db *db)
    void rd_db_unpin(const rd_db *db)
    uint32_t rd_db_pins(const rd_db *db)

cdef extern from "<sys/socket.h>" nogil:
    cdef struct sockaddr:
        pass

cdef extern from "server/rrl.h" nogil:
    ctypedef struct rd_rrl_config:
        uint32_t rate
        uint32_t slip
        uint8_t ipv4_prefix
        uint8_t ipv6_prefix
        uint32_t table_size
    ctypedef struct rd_rrl_table:
        pass
    enum:
        RD_RRL_PASS
        RD_RRL_SLIP
        RD_RRL_DROP
    rd_rrl_table *rd_rrl_new(const rd_rrl_config *cfg)
    void rd_rrl_free(rd_rrl_table *t)
    int rd_rrl_check(rd_rrl_table *t, const sockaddr *peer, const uint8_t *resp, size_t len,
                     uint64_t now_ms)
    size_t rd_rrl_slip(uint8_t *resp, size_t len)

cdef extern from "server/dnstap.h" nogil:
    ctypedef struct rd_dnstap_config:
        const char *path
        int unix_socket
        int queries, responses
        uint32_t sample
        size_t ring_bytes
        const char *identity
        const char *version
    ctypedef struct rd_dnstap:
        pass
    ctypedef struct rd_dnstap_ring:
        pass
    ctypedef struct rd_dnstap_counters:
        uint64_t logged
        uint64_t dropped
        uint64_t written
        uint64_t connects
        int connected
    rd_dnstap *rd_dnstap_start(const rd_dnstap_config *cfg, int nrings, char *err, size_t errlen)
    rd_dnstap_ring *rd_dnstap_ring_at(rd_dnstap *d, int i)
    void rd_dnstap_stop(rd_dnstap *d)
    void rd_dnstap_free(rd_dnstap *d)
    void rd_dnstap_counters_get(const rd_dnstap *d, rd_dnstap_counters *out)

cdef extern from "server/udp_loop.h" nogil:
    enum:
        RD_UDP_MAX_BATCH
        RD_UDP_HOLD_MAX_US
        RD_UDP_RESP_MAX
    ctypedef struct rd_udp_socket:
        int fd
        int family
        int wildcard
        int cpu
    ctypedef struct rd_udp_counters:
        uint64_t batches
        uint64_t recv_truncated
        uint64_t send_errors
        uint64_t no_database
        uint64_t recv_errors
        uint64_t rrl_dropped
        uint64_t rrl_slipped
        uint64_t holds
        uint64_t hold_datagrams
    ctypedef struct rd_udp_set:
        pass
    rd_udp_set *rd_udp_start(const rd_udp_socket *socks, int nsocks, int batch, int hold_us,
                             const rd_rrl_config *rrl, rd_dnstap *tap, int tap_first,
                             char *err, size_t errlen)
    void rd_udp_stop(rd_udp_set *s)
    void rd_udp_free(rd_udp_set *s)
    void rd_udp_stats_sum(const rd_udp_set *s, rd_stats *out, rd_udp_counters *loop_out)
    int rd_udp_threads(const rd_udp_set *s)

cdef extern from "server/worker.h" nogil:
    void rd_stats_add(rd_stats *dst, const rd_stats *src)

cdef extern from "server/tcp_loop.h" nogil:
    enum:
        RD_TCP_MAX_WORKERS
        RD_TCP_MAX_BATCH
        RD_TCP_QUERY_MAX
        RD_TCP_OUT_CAP
        RD_TCP_HOLD_US
        RD_TCP_NAGLE_RTT_US
        RD_TCP_PIPELINE_HOLD_US
    ctypedef struct rd_tcp_listener:
        int fd
        int worker
    ctypedef struct rd_tcp_limits:
        uint32_t max_connections
        uint32_t max_per_client
        uint32_t idle_timeout_ms
        uint32_t max_pipelined
        uint32_t hold_us
        uint32_t nagle_rtt_us
        uint32_t pipeline_hold_us
    ctypedef struct rd_tcp_counters:
        uint64_t open
        uint64_t accepted
        uint64_t closed
        uint64_t timed_out
        uint64_t evicted
        uint64_t per_client_refused
        uint64_t output_overflow
        uint64_t output_throttled
        uint64_t oversized
        uint64_t zero_length
        uint64_t truncated_eof
        uint64_t resets
        uint64_t accept_errors
        uint64_t no_database
        uint64_t batches
        uint64_t xfr_streams
        uint64_t holds
        uint64_t holds_empty
        uint64_t nagle_entered
    ctypedef struct rd_tcp_set:
        pass
    rd_tcp_set *rd_tcp_start(const rd_tcp_listener *ls, int nls, int nworkers, const int *cpus,
                             uint32_t pool_connections, const rd_tcp_limits *limits,
                             rd_dnstap *tap, int tap_first,
                             char *err, size_t errlen)
    void rd_tcp_set_limits(rd_tcp_set *s, const rd_tcp_limits *limits)
    void rd_tcp_stop(rd_tcp_set *s)
    void rd_tcp_free(rd_tcp_set *s)
    void rd_tcp_stats_sum(const rd_tcp_set *s, rd_stats *out, rd_tcp_counters *loop_out)
    int rd_tcp_threads(const rd_tcp_set *s)
