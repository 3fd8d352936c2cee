/* rrl.h — response rate limiting (RRL) for the UDP data plane: token buckets keyed by
 * client prefix and response class, one table per worker.
 *
 * The scheme is the one BIND, Knot and NSD operators know (Vixie and Schryver's "DNS
 * Response Rate Limiting"): a spoofed-source flood asking the same question, or random
 * names of one zone, gets at most `rate` identical responses per second per client
 * prefix; beyond that responses are dropped, except every `slip`-th one, which is sent
 * as an empty truncated response (TC=1, RFC 1035 4.1.1) so that a real client behind the
 * prefix retries over TCP, where source addresses cannot be forged.
 *
 * Each worker owns its table (no locks, no atomics): like NSD with several server
 * processes, a client whose queries SO_REUSEPORT spreads over N workers may get up to N
 * times the rate.  Fixed size, allocated at start; a full set evicts its stalest entry.
 */
#ifndef RD_RRL_H
#define RD_RRL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

typedef struct rd_rrl_config {
    uint32_t rate;          /* responses per second per bucket; 0 = RRL off */
    uint32_t slip;          /* every slip-th limited response goes out truncated; 0 = drop all */
    uint8_t ipv4_prefix;    /* client address bits that form the key (default 24) */
    uint8_t ipv6_prefix;    /* (default 56) */
    uint32_t table_size;    /* buckets per worker, rounded up to a power of two */
} rd_rrl_config;

typedef struct rd_rrl_table rd_rrl_table;

enum { RD_RRL_PASS = 0, RD_RRL_SLIP = 1, RD_RRL_DROP = 2 };

/* NULL when out of memory or rate is 0. */
rd_rrl_table *rd_rrl_new(const rd_rrl_config *cfg);
void rd_rrl_free(rd_rrl_table *t);

/* Account one response about to go to `peer` (sockaddr_in or sockaddr_in6) at time
 * now_ms (a monotonic clock in milliseconds): RD_RRL_PASS (send it), RD_RRL_SLIP (send
 * rd_rrl_slip()'s truncated form instead) or RD_RRL_DROP.  Never reads past resp[len-1]. */
int rd_rrl_check(rd_rrl_table *t, const struct sockaddr *peer, const uint8_t *resp, size_t len,
                 uint64_t now_ms);

/* The clock rd_rrl_check wants, read once per batch: the vDSO's coarse monotonic clock
 * (no syscall; a few ms of resolution is plenty for per-second buckets). */
static inline uint64_t rd_rrl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Cut a response down to header and question, TC set, other counts zero.  Returns the
 * new length (0 if the response is too malformed to cut: then send nothing). */
size_t rd_rrl_slip(uint8_t *resp, size_t len);

#endif
