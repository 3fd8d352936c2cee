/* rcu_selftest.c — a C-level stress test of rcu.c, called by tests/test_rcu.py via Cython.
 *
 * Reader threads keep loading a shared pointer and checking the object behind it, going
 * offline now and then like an idle worker; the writer keeps publishing fresh objects and
 * poisons each old one right after rd_rcu_synchronize().  A reader that ever sees poison
 * proves a grace period ended too early.  With `skip_synchronize` the writer poisons
 * without waiting: the test uses that to show the checker can fail.
 * rd_rcu_pin_stress does the same for a reader that pins one object across many
 * quiescent points (rd_db_pin, as a zone transfer streamed over TCP).
 */
#include "rcu_selftest.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

enum { OBJ_LIVE = 0x4c495645u, OBJ_DEAD = 0xdeadbeefu, OBJ_WORDS = 8, POOL = 8 };

typedef struct stress_obj {
    rd_db db;                            /* only its pin count is used */
    _Atomic uint32_t magic;
    _Atomic uint64_t words[OBJ_WORDS];   /* all equal to the object's generation */
} stress_obj;

typedef struct stress_shared {
    stress_obj *_Atomic current;
    _Atomic int stop;
    _Atomic uint64_t violations;
    _Atomic uint64_t reads;
    _Atomic int ready;
    _Atomic uint64_t pinned_reads;       /* checks made by the streaming reader */
} stress_shared;

typedef struct stress_reader_arg {
    stress_shared *sh;
    unsigned seed;
    int idle_every;            /* go offline every N batches (0 = never) */
} stress_reader_arg;

static void stress_check(stress_shared *sh, const stress_obj *o)
{
    /* Relaxed loads: the writer's poisoning races with nothing if RCU is right. */
    uint32_t magic = atomic_load_explicit(&o->magic, memory_order_relaxed);
    uint64_t gen = atomic_load_explicit(&o->words[0], memory_order_relaxed);
    int bad = magic != OBJ_LIVE;
    for (int i = 1; i < OBJ_WORDS; i++)
        if (atomic_load_explicit(&o->words[i], memory_order_relaxed) != gen)
            bad = 1;
    if (atomic_load_explicit(&o->magic, memory_order_relaxed) != OBJ_LIVE)
        bad = 1;
    if (bad)
        atomic_fetch_add(&sh->violations, 1);
}

static void *stress_reader(void *argp)
{
    stress_reader_arg *a = argp;
    stress_shared *sh = a->sh;
    rd_rcu_reader *r = rd_rcu_register();
    if (!r)
        return NULL;
    atomic_fetch_add(&sh->ready, 1);
    rd_rcu_online(r);
    uint64_t reads = 0;
    for (unsigned batch = 0; !atomic_load_explicit(&sh->stop, memory_order_relaxed); batch++) {
        /* One "batch": a few loads of the pointer, each object checked twice with a
         * pause between, as a worker uses the db across a whole batch of packets. */
        for (int k = 0; k < 16; k++) {
            stress_obj *o = atomic_load(&sh->current);
            stress_check(sh, o);
            for (volatile int spin = 0; spin < 50; spin++)
                ;
            stress_check(sh, o);
            reads++;
        }
        rd_rcu_quiescent(r);
        if (a->idle_every && batch % (unsigned)a->idle_every == 0) {
            rd_rcu_offline(r);
            struct timespec ts = { 0, 50000 + (long)(rand_r(&a->seed) % 200000) };
            nanosleep(&ts, NULL);
            rd_rcu_online(r);
        }
    }
    rd_rcu_unregister(r);
    atomic_fetch_add(&sh->reads, reads);
    return NULL;
}

static void stress_fill(stress_obj *o, uint64_t gen)
{
    for (int i = 0; i < OBJ_WORDS; i++)
        atomic_store_explicit(&o->words[i], gen, memory_order_relaxed);
    atomic_store_explicit(&o->magic, OBJ_LIVE, memory_order_relaxed);
}

static void stress_poison(stress_obj *o)
{
    atomic_store_explicit(&o->magic, OBJ_DEAD, memory_order_relaxed);
    for (int i = 0; i < OBJ_WORDS; i++)
        atomic_store_explicit(&o->words[i], OBJ_DEAD + (uint64_t)i, memory_order_relaxed);
}

int rd_rcu_stress(int nreaders, int publications, int skip_synchronize,
                  rd_rcu_stress_result *out)
{
    if (nreaders < 1 || nreaders > 64 || publications < 1)
        return -1;
    stress_obj *pool = calloc(POOL, sizeof(*pool));
    pthread_t *tids = calloc((size_t)nreaders, sizeof(*tids));
    stress_reader_arg *args = calloc((size_t)nreaders, sizeof(*args));
    stress_shared sh;
    if (!pool || !tids || !args) {
        free(pool); free(tids); free(args);
        return -1;
    }
    atomic_init(&sh.stop, 0);
    atomic_init(&sh.violations, 0);
    atomic_init(&sh.reads, 0);
    atomic_init(&sh.ready, 0);
    stress_fill(&pool[0], 1);
    atomic_init(&sh.current, &pool[0]);

    int started = 0;
    for (int i = 0; i < nreaders; i++) {
        args[i].sh = &sh;
        args[i].seed = 12345u + (unsigned)i;
        args[i].idle_every = (i % 2) ? 7 : 0;   /* half the readers idle now and then */
        if (pthread_create(&tids[i], NULL, stress_reader, &args[i]) == 0)
            started++;
        else
            break;
    }
    while (atomic_load(&sh.ready) < started)
        sched_yield();

    uint64_t before = rd_rcu_grace_periods();
    int slot = 0;
    for (int p = 0; p < publications; p++) {
        /* Objects are recycled from a small pool, so a reader that kept a stale pointer
         * would see poison or a generation change, not just freed memory. */
        slot = (slot + 1) % POOL;
        stress_obj *fresh = &pool[slot];
        stress_fill(fresh, (uint64_t)p + 2);
        stress_obj *old = atomic_exchange(&sh.current, fresh);
        if (!skip_synchronize)
            rd_rcu_synchronize();
        stress_poison(old);
    }
    atomic_store(&sh.stop, 1);
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);

    out->readers = started;
    out->publications = publications;
    out->grace_periods = rd_rcu_grace_periods() - before;
    out->violations = atomic_load(&sh.violations);
    out->reads = atomic_load(&sh.reads);
    free(pool); free(tids); free(args);
    return 0;
}

/* The streaming reader: pin what it loaded, then check it over many batches, passing a
 * quiescent point (and sometimes going offline) after each, like the TCP loop between
 * two messages of a transfer. */
static void *stress_streamer(void *argp)
{
    stress_reader_arg *a = argp;
    stress_shared *sh = a->sh;
    rd_rcu_reader *r = rd_rcu_register();
    if (!r)
        return NULL;
    atomic_fetch_add(&sh->ready, 1);
    uint64_t reads = 0;
    while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
        rd_rcu_online(r);
        stress_obj *o = atomic_load(&sh->current);
        rd_db_pin(&o->db);
        for (int batch = 0; batch < 20; batch++) {
            stress_check(sh, o);
            reads++;
            rd_rcu_quiescent(r);       /* o stays in use past this point: only the pin holds it */
            if (batch % 4 == 3) {
                rd_rcu_offline(r);
                struct timespec ts = { 0, 20000 + (long)(rand_r(&a->seed) % 50000) };
                nanosleep(&ts, NULL);
                rd_rcu_online(r);
            }
        }
        stress_check(sh, o);
        rd_db_unpin(&o->db);
        rd_rcu_quiescent(r);
    }
    rd_rcu_unregister(r);
    atomic_fetch_add(&sh->pinned_reads, reads);
    return NULL;
}

int rd_rcu_pin_stress(int publications, int ignore_pins, rd_rcu_stress_result *out)
{
    if (publications < 1)
        return -1;
    stress_obj *pool = calloc(POOL, sizeof(*pool));
    if (!pool)
        return -1;
    stress_shared sh;
    atomic_init(&sh.stop, 0);
    atomic_init(&sh.violations, 0);
    atomic_init(&sh.reads, 0);
    atomic_init(&sh.ready, 0);
    atomic_init(&sh.pinned_reads, 0);
    stress_fill(&pool[0], 1);
    atomic_init(&sh.current, &pool[0]);
    stress_reader_arg args[2] = { { &sh, 777u, 5 }, { &sh, 778u, 0 } };
    pthread_t tids[2];
    int started = 0;
    if (pthread_create(&tids[0], NULL, stress_streamer, &args[0]) == 0)
        started++;
    if (started == 1 && pthread_create(&tids[1], NULL, stress_reader, &args[1]) == 0)
        started++;
    while (atomic_load(&sh.ready) < started)
        sched_yield();

    uint64_t before = rd_rcu_grace_periods();
    int slot = 0;
    for (int p = 0; p < publications && started == 2; p++) {
        slot = (slot + 1) % POOL;
        stress_obj *fresh = &pool[slot];
        /* A slot still pinned from an earlier round (only when pins are ignored) is
         * refilled anyway: that is the bug the checker must see. */
        stress_fill(fresh, (uint64_t)p + 2);
        stress_obj *old = atomic_exchange(&sh.current, fresh);
        rd_rcu_synchronize();
        if (!ignore_pins) {
            unsigned spins = 0;
            while (rd_db_pins(&old->db) != 0) {
                struct timespec ts = { 0, spins++ < 16 ? 1000 : 100000 };
                nanosleep(&ts, NULL);
            }
        }
        stress_poison(old);
        /* Give the streamer time to come back to the new object between publications. */
        if (p % 8 == 0) {
            struct timespec ts = { 0, 50000 };
            nanosleep(&ts, NULL);
        }
    }
    atomic_store(&sh.stop, 1);
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    out->readers = started;
    out->publications = publications;
    out->grace_periods = rd_rcu_grace_periods() - before;
    out->violations = atomic_load(&sh.violations);
    out->reads = atomic_load(&sh.pinned_reads);
    free(pool);
    return started == 2 ? 0 : -1;
}
