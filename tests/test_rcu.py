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
    # One run takes milliseconds; on a loaded machine the readers may not run beside the
    # writer in it at all, so keep trying for a while (a deadline, not a count) before
    # calling the checker blind.
    seen = 0
    deadline = time.monotonic() + 30
    while not seen and time.monotonic() < deadline:
        seen += _core.rcu_stress(2, 3000, skip_synchronize=True)["violations"]
    assert seen > 0


def test_pinned_snapshot_survives_quiescent_points_until_unpinned():
    # A streaming reader (a zone transfer) pins what it loaded and keeps checking it across
    # many quiescent points while the writer publishes; the writer poisons an old object
    # only after the grace period and its pins reaching zero.
    res = _core.rcu_pin_stress(400)
    assert res["readers"] == 2
    assert res["reads"] > 0
    assert res["violations"] == 0


def test_pin_stress_detects_a_writer_that_ignores_pins():
    # Without waiting for the pins the streamer must see poison: the test above can fail.
    seen = 0
    for _ in range(20):
        seen += _core.rcu_pin_stress(400, ignore_pins=True)["violations"]
        if seen:
            break
    assert seen > 0


def test_publish_keeps_a_pinned_database_until_reaped_after_unpin():
    import gc

    def alive():
        return sum(1 for o in gc.get_objects() if isinstance(o, _core.Database))

    _core.publish(None)
    _core.reap()
    base = alive()
    a = _core.Database([])
    _core.publish(a)
    _core.rcu_test_pin(a)
    gen_a = a.generation
    del a
    _core.publish(_core.Database([]))
    # Unpublished and past its grace period, but pinned: not freed.
    assert _core.retired() == 1
    assert _core.reap() == 1
    assert alive() == base + 2
    kept = [o for o in gc.get_objects() if isinstance(o, _core.Database) and o.generation == gen_a]
    assert len(kept) == 1 and _core.db_pins(kept[0]) == 1
    _core.rcu_test_unpin(kept[0])
    del kept
    assert _core.reap() == 0
    assert alive() == base + 1
    _core.publish(None)
    _core.reap()
    assert alive() == base
