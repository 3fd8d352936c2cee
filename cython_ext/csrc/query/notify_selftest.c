/* notify_selftest.c — stress test of the lock-free NOTIFY queue: producers on threads, one consumer (built only with ROBDNS_TEST_HOOKS=1). */
#include "notify_selftest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify.h"

enum { MAX_NAMES = 4096 };

typedef struct {
    int seed, per_thread, nnames;
    uint8_t (*names)[RD_NAME_MAX + 1];
    _Atomic uint64_t *queued_once;       /* per name: successful queues */
    uint64_t queued, refused;
    _Atomic int *running;
} producer;

/* "z<k>.stress." as a wire name */
static void make_name(uint8_t *out, int k)
{
    char label[16];
    int n = snprintf(label, sizeof label, "z%d", k);
    out[0] = (uint8_t)n;
    memcpy(out + 1, label, (size_t)n);
    memcpy(out + 1 + n, "\006stress\000", 8);
}

static void *produce(void *arg)
{
    producer *p = arg;
    unsigned s = (unsigned)p->seed * 2654435761u + 1;
    for (int i = 0; i < p->per_thread; i++) {
        s = s * 1103515245u + 12345u;
        int k = (int)((s >> 8) % (unsigned)p->nnames);
        if (rd_notify_queue(p->names[k])) {
            p->queued++;
            atomic_fetch_add(&p->queued_once[k], 1);
        } else {
            p->refused++;
        }
    }
    atomic_fetch_sub(p->running, 1);
    return NULL;
}

static int name_index(const uint8_t *n, int nnames, uint8_t (*names)[RD_NAME_MAX + 1])
{
    for (int k = 0; k < nnames; k++)
        if (memcmp(n, names[k], rd_name_len(names[k])) == 0) return k;
    return -1;
}

static void take_all(rd_notify_stress_result *r, int nnames,
                     uint8_t (*names)[RD_NAME_MAX + 1], uint8_t *seen)
{
    uint8_t out[64][RD_NAME_MAX + 1];
    size_t n;
    while ((n = rd_notify_take(out, 64)) > 0) {
        for (size_t i = 0; i < n; i++) {
            int k = name_index(out[i], nnames, names);
            if (k < 0) r->torn++;
            else seen[k] = 1;
            r->taken++;
        }
    }
}

int rd_notify_stress(int nproducers, int per_thread, int nnames, rd_notify_stress_result *r)
{
    if (nproducers < 1 || nproducers > 64 || per_thread < 1 || nnames < 1 || nnames > MAX_NAMES)
        return -1;
    memset(r, 0, sizeof *r);
    uint8_t (*names)[RD_NAME_MAX + 1] = calloc((size_t)nnames, sizeof *names);
    _Atomic uint64_t *once = calloc((size_t)nnames, sizeof *once);
    uint8_t *seen = calloc((size_t)nnames, 1);
    producer *ps = calloc((size_t)nproducers, sizeof *ps);
    pthread_t *th = calloc((size_t)nproducers, sizeof *th);
    _Atomic int running = nproducers;
    int rc = -1, started = 0;
    if (!names || !once || !seen || !ps || !th) goto out;
    for (int k = 0; k < nnames; k++) make_name(names[k], k);
    take_all(r, nnames, names, seen);               /* start from an empty queue */
    r->taken = 0;
    size_t slots0 = rd_notify_slots_taken();
    memset(seen, 0, (size_t)nnames);
    for (int t = 0; t < nproducers; t++) {
        ps[t] = (producer){ .seed = t + 1, .per_thread = per_thread, .nnames = nnames,
                            .names = names, .queued_once = once, .running = &running };
        if (pthread_create(&th[t], NULL, produce, &ps[t]) != 0) {
            atomic_fetch_sub(&running, nproducers - t);
            break;
        }
        started++;
    }
    while (atomic_load(&running) > 0) take_all(r, nnames, names, seen);
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
    take_all(r, nnames, names, seen);
    uint8_t probe[1][RD_NAME_MAX + 1];
    r->left = rd_notify_take(probe, 1);
    r->slots = rd_notify_slots_taken() - slots0;
    for (int t = 0; t < started; t++) { r->queued += ps[t].queued; r->refused += ps[t].refused; }
    for (int k = 0; k < nnames; k++)
        if (atomic_load(&once[k]) > 0 && !seen[k]) r->lost++;
    rc = started == nproducers ? 0 : -1;
out:
    free(names); free((void *)once); free(seen); free(ps); free(th);
    return rc;
}
