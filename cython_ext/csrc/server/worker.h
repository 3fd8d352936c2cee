/* worker.h — how the data plane's threads start: each created already pinned to its core,
 * with every signal blocked (signals are the Python main thread's).
 *
 * The UDP loops (udp_loop.c), the TCP loops (tcp_loop.c), the AF_XDP workers
 * (xdp_worker.c) and the dnstap writer (dnstap.c) start their threads here.
 */
#ifndef RD_WORKER_H
#define RD_WORKER_H

#include <pthread.h>

/* Start run(arg) on a new thread pinned to `cpu` from its first instruction (no window on
 * another core; cpu < 0: not pinned), with every signal blocked.  0, or an errno (an
 * impossible cpu is EINVAL: the start fails rather than run unpinned). */
int rd_worker_thread_start(pthread_t *thread, int cpu, void *(*run)(void *), void *arg);

#endif
