"""A manual clock for the timing kept on the event loop (tests)."""

from __future__ import annotations

import asyncio


class LoopClock:
    """The running event loop's clock, moved on by hand on top of real time: the test's manual clock for
    what the service times on the loop itself (the inbox's burst window, the time a batch gathers
    company, a stuck batch's timeout), where the business clock (models.timeutil) does not apply.

    `advance(seconds)` makes them pass at once: the timers due within them (asyncio.sleep, timeout,
    wait_for) fire at the next turn of the loop. Real time runs on beside it, so the database and HTTP
    work as ever, and a test that does not advance waits as before. Advance while the code under test
    waits on a timer, not in the middle of its I/O (that would count the query as taking that long).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop or asyncio.get_running_loop()
        self.offset = 0.0
        self._real = self.loop.time
        self.loop.time = self.time  # type: ignore[method-assign]

    def time(self) -> float:
        return self._real() + self.offset

    async def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not go back")
        self.offset += seconds
        await asyncio.sleep(0)  # the timers now due fire; what they wake runs from the next turn on

    def close(self) -> None:
        del self.loop.time  # the loop's own clock again
