"""tasks — the event loop's background tasks, held until they end and settled at the stop.

asyncio holds a task only weakly: one nobody keeps can be collected while it runs, and one
still pending when the loop closes is reported as "Task was destroyed but it is pending!"
on stderr — a plain-text line in a JSON log (session 9's CI).  Its exception, if nobody
asks for it, is reported the same way.  So every background coroutine of the daemon is
started here: a reload on SIGHUP, a catalog's member change, a batch of zone publications,
the pollers.  A stop cancels the pollers and lets the work finish (a reload cancelled
between compile and publish would leave nothing wrong, but nothing gained either: the
reload thread runs it to the end anyway).

Imported only once the event loop runs (robdns.daemon imports asyncio late, issue 14).
"""

import asyncio

from robdns.log import logger


class TaskSet:
    """Tasks of one kind, held until done; their failures logged, not left for asyncio."""

    def __init__(self, kind):
        self.kind = kind             # for the log: "background work", "poller"
        self.tasks = set()
        self.settling = False        # a stop waits for the set: only its own tasks add more
        self.closed = False          # nothing adds more

    def spawn(self, coro):
        """Run `coro` as a task held here; None (and the coroutine closed, never run) once
        the set is closed, or while it settles unless a task of the set asks (a catalog
        change publishing its zones is part of the work the stop waits for; a new reload
        or a secondary's refresh is not)."""
        if self.closed or (self.settling and asyncio.current_task() not in self.tasks):
            coro.close()
            return None
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task):
        self.tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            logger.error("%s %s failed: %s", self.kind, task.get_coro().__qualname__, exc,
                         exc_info=exc)

    async def cancel(self):
        """Close the set, cancel every task and wait until each has ended."""
        self.closed = True
        for task in self.tasks:
            task.cancel()
        await self._ended()

    async def settle(self, timeout):
        """Wait up to `timeout` seconds for the tasks to finish (and what they start
        meanwhile), taking no other new work; cancel those still running then, wait until
        they have ended, and close the set."""
        self.settling = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.tasks and loop.time() < deadline:
            await asyncio.wait(set(self.tasks), timeout=deadline - loop.time())
        self.closed = True
        for task in self.tasks:
            logger.warning("%s %s still running at the stop: cancelled", self.kind,
                           task.get_coro().__qualname__)
            task.cancel()
        await self._ended()

    async def _ended(self):
        # a task that ends may have been started by another of the set before it closed
        while self.tasks:
            await asyncio.wait(set(self.tasks))
