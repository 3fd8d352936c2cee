/* notify_selftest.h — the NOTIFY queue stress test entry point (used only by the test suite). */
#ifndef RD_NOTIFY_SELFTEST_H
#define RD_NOTIFY_SELFTEST_H

#include <stdint.h>

typedef struct rd_notify_stress_result {
    uint64_t queued;        /* rd_notify_queue calls that returned 1 */
    uint64_t refused;       /* ... that returned 0 (queued already or full) */
    uint64_t taken;         /* names rd_notify_take returned (duplicates folded) */
    uint64_t slots;         /* slots it consumed: must equal queued */
    uint64_t torn;          /* taken names that are none of the names queued: must be 0 */
    uint64_t lost;          /* names queued at least once and never taken: must be 0 */
    uint64_t left;          /* names still in the queue after the final drain: must be 0 */
} rd_notify_stress_result;

/* nproducers threads each queue `per_thread` origins drawn from `nnames` distinct ones
 * while this thread takes; 0 on success, -1 on a bad argument or no threads. */
int rd_notify_stress(int nproducers, int per_thread, int nnames, rd_notify_stress_result *out);

#endif
