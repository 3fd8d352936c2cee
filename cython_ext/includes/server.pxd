# server.pxd — C declarations of the daemon's data plane: RCU (rcu.h) and its self-test.
from libc.stdint cimport uint64_t

cdef extern from "rcu.h" nogil:
    ctypedef struct rd_rcu_reader:
        pass
    rd_rcu_reader *rd_rcu_register()
    void rd_rcu_unregister(rd_rcu_reader *r)
    void rd_rcu_quiescent(rd_rcu_reader *r)
    void rd_rcu_offline(rd_rcu_reader *r)
    void rd_rcu_online(rd_rcu_reader *r)
    void rd_rcu_synchronize()
    uint64_t rd_rcu_grace_periods()

cdef extern from "rcu_selftest.h" nogil:
    ctypedef struct rd_rcu_stress_result:
        int readers
        int publications
        uint64_t grace_periods
        uint64_t violations
        uint64_t reads
    int rd_rcu_stress(int nreaders, int publications, int skip_synchronize,
                      rd_rcu_stress_result *out)
