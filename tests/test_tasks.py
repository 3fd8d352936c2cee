"""test_tasks — robdns.tasks.TaskSet: background tasks held until they end, their failures
logged (not left for asyncio to print), a stop that lets work finish or cancels pollers,
and nothing new started once the set is closed."""

import asyncio
import logging

from robdns.tasks import TaskSet


def run(coro):
    return asyncio.run(coro)


def test_a_task_is_held_until_it_ends_then_dropped():
    async def main():
        ts = TaskSet("work")
        gate = asyncio.Event()

        async def job():
            await gate.wait()
            return 7
        t = ts.spawn(job())
        assert ts.tasks == {t}
        gate.set()
        assert await t == 7
        await asyncio.sleep(0)
        assert ts.tasks == set()
    run(main())


def test_a_failure_is_logged_with_its_traceback(caplog):
    async def main():
        ts = TaskSet("background work")

        async def broken():
            raise ValueError("no such zone")
        ts.spawn(broken())
        await ts.settle(1.0)
    with caplog.at_level(logging.ERROR, logger="robdns"):
        run(main())
    rec = [r for r in caplog.records if "no such zone" in r.getMessage()]
    assert len(rec) == 1 and rec[0].exc_info and "background work" in rec[0].getMessage()


def test_settle_lets_running_work_finish_and_refuses_new_work():
    async def main():
        ts = TaskSet("work")
        done = []

        async def job(n):
            await asyncio.sleep(0.05)
            done.append(n)
        ts.spawn(job(1))
        await ts.settle(5.0)
        assert done == [1] and ts.tasks == set()
        ran = []

        async def late():
            ran.append(1)
        assert ts.spawn(late()) is None           # closed: the coroutine is closed, not run
        await asyncio.sleep(0.01)
        assert ran == []
    run(main())


def test_settle_cancels_what_outlives_the_timeout(caplog):
    async def main():
        ts = TaskSet("work")
        cancelled = []

        async def forever():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.append(1)
                raise
        t = ts.spawn(forever())
        await ts.settle(0.05)
        assert cancelled == [1] and t.cancelled() and ts.tasks == set()
    with caplog.at_level(logging.WARNING, logger="robdns"):
        run(main())
    assert any("still running at the stop" in r.getMessage() for r in caplog.records)


def test_cancel_ends_pollers_and_waits_for_their_cleanup():
    async def main():
        ts = TaskSet("poller")
        cleaned = []

        async def poller():
            try:
                while True:
                    await asyncio.sleep(0.01)
            finally:
                await asyncio.sleep(0.02)         # cleanup that itself awaits
                cleaned.append(1)
        ts.spawn(poller())
        ts.spawn(poller())
        await asyncio.sleep(0.03)
        await ts.cancel()
        assert cleaned == [1, 1] and ts.tasks == set()
    run(main())


def test_work_started_by_work_during_settle_is_waited_for_too():
    async def main():
        ts = TaskSet("work")
        done = []

        async def child():
            await asyncio.sleep(0.02)
            done.append("child")

        async def parent():
            ts.spawn(child())                     # before the set closes: accepted
            await asyncio.sleep(0.01)
            done.append("parent")
        ts.spawn(parent())
        await asyncio.sleep(0)                    # parent has run up to its sleep
        await ts.settle(5.0)
        assert sorted(done) == ["child", "parent"]
    run(main())


def test_while_settling_only_the_sets_own_tasks_start_more():
    # a catalog change that publishes its zones while the stop waits: its publication is
    # part of the work; a task from outside the set (a new SIGHUP, a secondary's refresh)
    # is refused until the stop is over
    async def main():
        ts = TaskSet("work")
        done, refused = [], []

        async def publication():
            done.append("publication")

        async def change():
            await asyncio.sleep(0.02)             # the stop begins meanwhile
            assert ts.spawn(publication()) is not None
            done.append("change")

        async def outsider():
            await asyncio.sleep(0.01)
            refused.append(ts.spawn(publication()))
        ts.spawn(change())
        other = asyncio.get_running_loop().create_task(outsider())
        await ts.settle(5.0)
        await other
        assert sorted(done) == ["change", "publication"]
        assert refused == [None] and ts.closed and ts.tasks == set()
    run(main())


def test_settle_bounds_the_children_started_while_it_waits_too():
    # the timed wait covers what the set's tasks start during it: a child that would run
    # past the timeout is cancelled at it, not waited for without bound
    async def main():
        ts = TaskSet("work")
        done = []

        async def child(t):
            await asyncio.sleep(t)
            done.append(t)

        async def parent():
            await asyncio.sleep(0.01)
            ts.spawn(child(0.02))
            ts.spawn(child(30.0))
        ts.spawn(parent())
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await ts.settle(0.3)
        assert done == [0.02] and loop.time() - t0 < 5.0 and ts.tasks == set()
    run(main())


def test_the_stop_lets_background_work_finish_before_the_secondary_closes():
    # Daemon.shutdown: a catalog change ends by configuring the secondary (its new members
    # planned); after the secondary's close that would start it again during the stop
    import types

    from robdns import _core, daemon

    async def main():
        calls = []

        class Part:
            def __init__(self, name):
                self.name = name

            async def close(self):
                calls.append(self.name + ".close")

            def configure(self):
                calls.append(self.name + ".configure")

            def stop(self):
                calls.append(self.name + ".stop")

            def shutdown(self, wait=True):
                calls.append(self.name + ".shutdown")

        d = types.SimpleNamespace(secondary=Part("secondary"), control=Part("control"),
                                  background=TaskSet("background work"), tcp=None,
                                  transfers=Part("transfers"), reloader=Part("reloader"),
                                  keeper=Part("keeper"), workers=None, xdp=None, dnstap=None,
                                  http=None, listeners=types.SimpleNamespace(close=lambda: None),
                                  SETTLE_AT_STOP_S=5.0, keeping=True)

        async def catalog_change():
            await asyncio.sleep(0.05)
            d.secondary.configure()
        d.background.spawn(catalog_change())
        await daemon.Daemon.shutdown(d)
        assert calls.index("secondary.configure") < calls.index("secondary.close")
        assert calls.index("control.close") < calls.index("secondary.configure")
    try:
        run(main())
    finally:
        _core.publish(None)
