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

#endif
