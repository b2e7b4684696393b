"""The shared ack function of lazy listeners (see ``bot.listeners``)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck


async def ack_now(ack: AsyncAck) -> None:
    await ack()
