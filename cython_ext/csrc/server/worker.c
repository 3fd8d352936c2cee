/* worker.c — starting the data plane's threads (pinned, signals blocked), their capability drop, summing their counters. */
#define _GNU_SOURCE
#include "worker.h"

#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

int rd_worker_thread_start(pthread_t *thread, int cpu, void *(*run)(void *), void *arg)
{
    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc != 0)
        return rc;
    if (cpu >= 0) {
        cpu_set_t cpus;
        CPU_ZERO(&cpus);
        CPU_SET(cpu, &cpus);
        pthread_attr_setaffinity_np(&attr, sizeof(cpus), &cpus);
    }
    /* A new thread starts with its creator's mask: block all around the creation. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(thread, &attr, run, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return rc;
}

/* Capabilities are per thread, and a new thread starts with its creator's.  Threads
 * started before the daemon drops its privileges (the XDP workers and the dnstap writer
 * need their rings at start) drop their own here: a bug on the packet path must not run
 * with CAP_NET_ADMIN or CAP_BPF.  Only when not root: a root daemon drops to server.user
 * with setuid(), which glibc runs in every thread and aborts the process if one of them
 * fails; a thread without CAP_SETUID would fail, and the setuid clears its capabilities
 * anyway.  Unprivileged with capabilities (the systemd unit), no setuid ever comes: the
 * daemon drops its own thread's, these threads theirs.  Lowering one's own sets cannot
 * fail; the ambient set follows the permitted one down. */
void rd_worker_drop_capabilities(void)
{
    if (geteuid() == 0)
        return;
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3];
    memset(none, 0, sizeof none);
    (void)syscall(SYS_capset, &hdr, none);
}

void rd_worker_counters_add(uint64_t *dst, const uint64_t *src, size_t n)
{
    for (size_t k = 0; k < n; k++)
        dst[k] += __atomic_load_n(&src[k], __ATOMIC_RELAXED);
}

void rd_stats_add(rd_stats *dst, const rd_stats *src)
{
    rd_worker_counters_add((uint64_t *)dst, (const uint64_t *)src,
                           sizeof(rd_stats) / sizeof(uint64_t));
}
