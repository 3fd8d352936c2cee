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
