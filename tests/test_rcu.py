"""test_rcu — the RCU of the data plane: grace periods wait for online readers only,
and a stress test of readers against a publishing writer never sees a freed object."""

import threading
import time

from robdns import _core


def _synchronize_in_thread():
    done = threading.Event()

    def run():
        _core.rcu_synchronize()
        done.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, done


def test_synchronize_waits_for_an_online_reader_until_its_quiescent_point():
    reader = _core.RcuTestReader()
    try:
        reader.online()                       # holds whatever it loaded: a grace period must wait
        t, done = _synchronize_in_thread()
        assert not done.wait(0.3), "grace period ended while a reader was inside a batch"
        reader.quiescent()                    # end of the batch
        assert done.wait(5), "grace period did not end after the reader's quiescent point"
        t.join()
    finally:
        reader.close()


def test_offline_reader_does_not_stall_a_grace_period():
    # An idle worker blocked in recvmmsg is offline: synchronize must not wait for it.
    reader = _core.RcuTestReader()
    try:
        reader.online()
        reader.offline()
        before = _core.rcu_grace_periods()
        t, done = _synchronize_in_thread()
        # Waiting on an offline reader would never end (it is never scheduled to pass a
        # quiescent point); the generous bound only keeps a failure from hanging the run.
        assert done.wait(30), "grace period waited for an offline reader"
        t.join()
        assert _core.rcu_grace_periods() == before + 1
    finally:
        reader.close()


def test_unregistered_reader_does_not_stall_a_grace_period():
    reader = _core.RcuTestReader()
    reader.online()
    reader.close()                            # a worker that exited while online
    t, done = _synchronize_in_thread()
    assert done.wait(5)
    t.join()


def test_reader_that_comes_online_after_publication_is_not_waited_for_twice():
    reader = _core.RcuTestReader()
    try:
        reader.online()
        t, done = _synchronize_in_thread()
        time.sleep(0.05)
        reader.offline()                      # going offline also ends its read section
        assert done.wait(5)
        t.join()
        reader.online()                       # back online: only the next grace period waits
        t2, done2 = _synchronize_in_thread()
        assert not done2.wait(0.2)
        reader.quiescent()
        assert done2.wait(5)
        t2.join()
    finally:
        reader.close()


def test_stress_readers_never_see_a_retired_object():
    # C threads read and check the published object in batches (half of them go offline
    # at random, like idle workers); the writer poisons each old object right after
    # synchronize. Any poison seen by a reader is a grace period that ended too early.
    res = _core.rcu_stress(3, 1000)
    assert res["readers"] == 3
    assert res["grace_periods"] == 1000
    assert res["reads"] > 0
    assert res["violations"] == 0


def test_stress_detects_a_writer_that_skips_the_grace_period():
    # The same checker without synchronize must catch readers using poisoned objects;
    # otherwise the test above could not fail.
    seen = 0
    for _ in range(20):
        seen += _core.rcu_stress(2, 3000, skip_synchronize=True)["violations"]
        if seen:
            break
    assert seen > 0
