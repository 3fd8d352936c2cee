/* rcu.c — quiescent-state RCU (reader slots, epoch grace periods) and the global db pointer. */
#include "rcu.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>

_Atomic uint64_t rd_rcu_global_epoch = 1;
const rd_db *_Atomic rd_db_global = NULL;

static rd_rcu_reader rcu_readers[RD_RCU_MAX_READERS];
static _Atomic int rcu_nslots = 0;              /* high-water mark of slots ever used */
static pthread_mutex_t rcu_writer_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t rcu_grace_periods = 0;

rd_rcu_reader *rd_rcu_register(void)
{
    for (int i = 0; i < RD_RCU_MAX_READERS; i++) {
        int expected = 0;
        if (atomic_compare_exchange_strong(&rcu_readers[i].in_use, &expected, 1)) {
            atomic_store(&rcu_readers[i].epoch, 0);
            /* Raise the high-water mark so synchronize scans this slot. */
            int n = atomic_load(&rcu_nslots);
            while (n < i + 1 && !atomic_compare_exchange_weak(&rcu_nslots, &n, i + 1))
                ;
            return &rcu_readers[i];
        }
    }
    return NULL;
}

void rd_rcu_unregister(rd_rcu_reader *r)
{
    if (!r)
        return;
    atomic_store(&r->epoch, 0);
    atomic_store(&r->in_use, 0);
}

/* Sleep a little while a reader finishes its batch: short at first (a batch takes
 * microseconds), then backing off so a long wait does not burn a core. */
static void rcu_backoff(unsigned *spins)
{
    if (*spins < 16) {
        sched_yield();
    } else {
        unsigned us = *spins < 64 ? 20 : 500;
        struct timespec ts = { 0, (long)us * 1000 };
        nanosleep(&ts, NULL);
    }
    (*spins)++;
}

void rd_rcu_synchronize(void)
{
    pthread_mutex_lock(&rcu_writer_lock);
    /* Every pointer exchange before this point is ordered before the new epoch. */
    uint64_t target = atomic_fetch_add(&rd_rcu_global_epoch, 1) + 1;
    int n = atomic_load(&rcu_nslots);
    for (int i = 0; i < n; i++) {
        unsigned spins = 0;
        for (;;) {
            uint64_t seen = atomic_load(&rcu_readers[i].epoch);
            if (seen == 0 || seen >= target)
                break;              /* offline, or passed a quiescent point since */
            rcu_backoff(&spins);
        }
    }
    atomic_fetch_add(&rcu_grace_periods, 1);
    pthread_mutex_unlock(&rcu_writer_lock);
}

uint64_t rd_rcu_grace_periods(void)
{
    return atomic_load(&rcu_grace_periods);
}

const rd_db *rd_db_exchange(const rd_db *db)
{
    return atomic_exchange(&rd_db_global, db);
}
