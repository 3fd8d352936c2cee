/* worker.h — what the data plane's threads share: each created already pinned to its
 * core, with every signal blocked (signals are the Python main thread's); those started
 * before the daemon drops its privileges give up their own capabilities; their counters
 * summed while they keep writing them.
 *
 * The UDP loops (udp_loop.c), the TCP loops (tcp_loop.c), the AF_XDP workers
 * (xdp_worker.c) and the dnstap writer (dnstap.c) start their threads here.
 */
#ifndef RD_WORKER_H
#define RD_WORKER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "query/engine.h"

/* Start run(arg) on a new thread pinned to `cpu` from its first instruction (no window on
 * another core; cpu < 0: not pinned), with every signal blocked.  0, or an errno (an
 * impossible cpu is EINVAL: the start fails rather than run unpinned). */
int rd_worker_thread_start(pthread_t *thread, int cpu, void *(*run)(void *), void *arg);

/* Give up every capability of the calling thread, unless the process is root (see
 * worker.c).  Called first thing by a thread started before the daemon dropped its
 * privileges (the XDP workers, the dnstap writer). */
void rd_worker_drop_capabilities(void);

/* dst[k] += src[k] for n 64-bit counters their owner thread keeps writing (relaxed atomic
 * loads: each word whole, the set possibly a few packets apart). */
void rd_worker_counters_add(uint64_t *dst, const uint64_t *src, size_t n);

/* The same for a worker's engine counters (rd_stats is all uint64_t). */
void rd_stats_add(rd_stats *dst, const rd_stats *src);

#endif
