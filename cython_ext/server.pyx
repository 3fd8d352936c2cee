# server.pyx — the daemon's data plane seen from Python: RCU publication of the database
# and (test-only) handles on the RCU reader side and its C stress test.
from includes.server cimport *


def rcu_synchronize():
    """Wait for a grace period (GIL released): every online reader passes a quiescent point."""
    with nogil:
        rd_rcu_synchronize()


def rcu_grace_periods():
    """Number of grace periods completed so far in this process."""
    return rd_rcu_grace_periods()


cdef class RcuTestReader:
    """An RCU reader slot driven from Python, for tests of the grace-period rules.

    Workers do this in C; tests use it to hold a reader online (not quiescent) and show
    that rd_rcu_synchronize() waits for it, or that it does not wait for an offline one.
    """
    cdef rd_rcu_reader *r

    def __cinit__(self):
        self.r = rd_rcu_register()
        if self.r == NULL:
            raise RuntimeError("no free RCU reader slot")

    def online(self):
        rd_rcu_online(self.r)

    def quiescent(self):
        rd_rcu_quiescent(self.r)

    def offline(self):
        rd_rcu_offline(self.r)

    def close(self):
        if self.r != NULL:
            rd_rcu_unregister(self.r)
            self.r = NULL

    def __dealloc__(self):
        if self.r != NULL:
            rd_rcu_unregister(self.r)


def rcu_stress(int readers, int publications, bint skip_synchronize=False):
    """Run the C stress test of rcu_selftest.c; returns its counters as a dict."""
    cdef rd_rcu_stress_result res
    cdef int rc
    cdef int skip = 1 if skip_synchronize else 0
    with nogil:
        rc = rd_rcu_stress(readers, publications, skip, &res)
    if rc != 0:
        raise ValueError("rcu_stress: bad arguments or threads could not start")
    return {"readers": res.readers, "publications": res.publications,
            "grace_periods": res.grace_periods, "violations": res.violations,
            "reads": res.reads}
