/* rd_huge.c — read-only data moved into 2 MiB pages behind the readers' backs, on an idle-priority thread, so lookups spread over it miss the TLB less. */
#define _GNU_SOURCE
#include "rd_huge.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25           /* Linux 6.1 (include/uapi/asm-generic/mman-common.h) */
#endif

struct rd_huge {
    pthread_t thread;
    uint8_t *base;                 /* the range's start (COPY: the file's offset 0) */
    uint8_t *lo, *hi;              /* the whole huge pages of the range */
    int mode;
    int fd;                        /* COPY: the mapped file (our duplicate), else -1 */
    int joined;
    atomic_int stop;
    atomic_size_t done;
};

/* the start's hold (rd_huge_hold): one gate for every thread of the process */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_held;

void rd_huge_hold(int held)
{
    pthread_mutex_lock(&gate_mu);
    gate_held = held;
    if (!held) pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

/* Wait while the gate is held; 0 when the thread was stopped meanwhile.  The stop flag is
 * read under the gate's mutex, which rd_huge_stop takes before its broadcast: no lost
 * wake-up. */
static int gate_pass(rd_huge *h)
{
    pthread_mutex_lock(&gate_mu);
    while (gate_held && !atomic_load(&h->stop)) pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    return !atomic_load(&h->stop);
}

void *rd_huge_map(size_t len, int prot, int flags, int fd)
{
    /* reserve 2 MiB more than asked, place the mapping at the first aligned address in
     * it and give back the rest */
    size_t span = len + RD_HUGE_PAGE;
    uint8_t *r = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) return MAP_FAILED;
    uint8_t *a = (uint8_t *)(((uintptr_t)r + RD_HUGE_PAGE - 1) & ~(uintptr_t)(RD_HUGE_PAGE - 1));
    void *m = mmap(a, len, prot, flags | MAP_FIXED | (fd < 0 ? MAP_ANONYMOUS : 0), fd, 0);
    if (m == MAP_FAILED) {
        munmap(r, span);
        return MAP_FAILED;
    }
    size_t page = 4096, used = (len + page - 1) & ~(page - 1);
    if (a > r) munmap(r, (size_t)(a - r));
    if (r + span > a + used) munmap(a + used, (size_t)(r + span - (a + used)));
    return a;
}

/* One 2 MiB page of a private file mapping: copied into an anonymous huge page, which then
 * takes its place at the same address. */
static void copy_page(const rd_huge *h, uint8_t *at)
{
    uint8_t *q = rd_huge_map(RD_HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, -1);
    if (q == MAP_FAILED) return;
    madvise(q, RD_HUGE_PAGE, MADV_HUGEPAGE);
    memcpy(q, at, RD_HUGE_PAGE);
    /* the copy's faults may have got small pages (no free 2 MiB then): try once more */
    madvise(q, RD_HUGE_PAGE, MADV_COLLAPSE);
    if (mprotect(q, RD_HUGE_PAGE, PROT_READ) != 0) {
        munmap(q, RD_HUGE_PAGE);
        return;
    }
    if (mremap(q, RD_HUGE_PAGE, RD_HUGE_PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, at) == MAP_FAILED) {
        /* mremap_to unmaps `at` before it moves q, and the move can still fail: put the
         * file's page back (MAP_FIXED replaces whatever is there in one step, so when the
         * target was never unmapped this maps the same bytes again) */
        mmap(at, RD_HUGE_PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED, h->fd, (off_t)(at - h->base));
        munmap(q, RD_HUGE_PAGE);
    }
}

static void *run(void *arg)
{
    rd_huge *h = arg;
    /* below every other thread of the host: the collapse or copy of a few hundred MB
     * costs ~0.1-0.3 s of CPU, which a start or a worker at full load must not pay */
    struct sched_param sp = { 0 };
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
    pthread_setname_np(pthread_self(), "robdns-huge");     /* its CPU shown apart */
    if (!gate_pass(h)) return NULL;
    if (h->mode == RD_HUGE_COLLAPSE) madvise(h->lo, (size_t)(h->hi - h->lo), MADV_HUGEPAGE);
    for (uint8_t *p = h->lo; p < h->hi; p += RD_HUGE_PAGE) {
        if (atomic_load_explicit(&h->stop, memory_order_relaxed)) break;
        if (h->mode == RD_HUGE_COPY)
            copy_page(h, p);
        else
            madvise(p, RD_HUGE_PAGE, MADV_COLLAPSE);
        atomic_fetch_add_explicit(&h->done, 1, memory_order_relaxed);
    }
    return NULL;
}

rd_huge *rd_huge_start(void *p, size_t len, int mode, int fd)
{
    uint8_t *lo = (uint8_t *)(((uintptr_t)p + RD_HUGE_PAGE - 1) & ~(uintptr_t)(RD_HUGE_PAGE - 1));
    uint8_t *hi = (uint8_t *)(((uintptr_t)p + len) & ~(uintptr_t)(RD_HUGE_PAGE - 1));
    if (!p || hi <= lo) return NULL;
    rd_huge *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->base = p;
    h->lo = lo;
    h->hi = hi;
    h->mode = mode;
    h->fd = -1;
    if (mode == RD_HUGE_COPY) {
        h->fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
        if (h->fd < 0) {
            free(h);
            return NULL;
        }
    }
    atomic_init(&h->stop, 0);
    atomic_init(&h->done, 0);
    if (pthread_create(&h->thread, NULL, run, h) != 0) {
        if (h->fd >= 0) close(h->fd);
        free(h);
        return NULL;
    }
    return h;
}

int rd_huge_wait(rd_huge *h)
{
    if (!h) return 0;
    if (!h->joined) {
        pthread_join(h->thread, NULL);
        h->joined = 1;
    }
    return atomic_load(&h->done) == (size_t)(h->hi - h->lo) / RD_HUGE_PAGE;
}

void rd_huge_stop(rd_huge *h)
{
    if (!h) return;
    atomic_store(&h->stop, 1);
    pthread_mutex_lock(&gate_mu);          /* a held thread: let it see the stop */
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    if (!h->joined) {
        /* back to normal priority for the page in hand: at SCHED_IDLE on a busy CPU it
         * could keep the caller (the control plane freeing a snapshot) waiting */
        struct sched_param sp = { 0 };
        pthread_setschedparam(h->thread, SCHED_OTHER, &sp);
    }
    rd_huge_wait(h);
    if (h->fd >= 0) close(h->fd);
    free(h);
}

size_t rd_huge_done(const rd_huge *h)
{
    return h ? atomic_load(&((rd_huge *)h)->done) : 0;
}
