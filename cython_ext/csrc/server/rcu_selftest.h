/* rcu_selftest.h — the RCU stress test entry point (used only by the test suite). */
#ifndef RD_RCU_SELFTEST_H
#define RD_RCU_SELFTEST_H

#include "rcu.h"

typedef struct rd_rcu_stress_result {
    int readers;
    int publications;
    uint64_t grace_periods;    /* grace periods completed during the run */
    uint64_t violations;       /* reads that saw a poisoned (freed) object: must be 0 */
    uint64_t reads;
} rd_rcu_stress_result;

/* Run readers against a writer publishing `publications` times; 0 on success, -1 on a
 * bad argument or when threads could not be created. */
int rd_rcu_stress(int nreaders, int publications, int skip_synchronize,
                  rd_rcu_stress_result *out);

/* One streaming reader pins the snapshot it loaded and keeps checking it across many
 * quiescent points (as a zone transfer does), while plain readers run as above and the
 * writer publishes `publications` times, poisoning each old object after the grace period
 * and, unless `ignore_pins`, after its pins have dropped to zero.  With ignore_pins the
 * streaming reader must see poison: the test shows the checker can fail. */
int rd_rcu_pin_stress(int publications, int ignore_pins, rd_rcu_stress_result *out);

#endif
