"""ProgressRelay (unit, no fakes needed): the workflow hears at most one signal per interval, always the latest."""

from __future__ import annotations

import asyncio

from workflows.progress_relay import ProgressRelay


async def test_a_quick_run_sends_nothing_and_a_long_one_sends_the_latest_once_per_interval() -> None:
    sent: list[tuple[int, str | None]] = []

    async def send(percent: int, note: str | None) -> None:
        sent.append((percent, note))

    quick = ProgressRelay(send, interval=0.3)
    quick.report(25, "started")
    quick.report(80, "almost")
    quick.close()
    await asyncio.sleep(0)  # ended within its first interval: the result says it all
    assert sent == []

    relay = ProgressRelay(send, interval=0.3)
    for pct in range(10, 100, 10):  # nine reports over ~0.45 s
        relay.report(pct, f"at {pct}")
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.4)
    relay.close()
    assert 1 <= len(sent) <= 2, sent  # not nine
    assert sent[-1] == (90, "at 90")  # the trailing value was not lost
    assert [p for p, _ in sent] == sorted(p for p, _ in sent)


async def test_a_value_reported_while_a_signal_is_on_its_way_is_sent_next() -> None:
    sent: list[int] = []

    async def slow_send(percent: int, note: str | None) -> None:
        await asyncio.sleep(0.1)  # the signal takes a round trip
        sent.append(percent)

    relay = ProgressRelay(slow_send, interval=0.05)
    relay.report(10, None)
    await asyncio.sleep(0.08)  # the first signal is in flight now
    relay.report(60, None)
    await asyncio.sleep(0.4)
    relay.close()
    assert sent == [10, 60]
