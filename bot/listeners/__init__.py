"""Listeners, one module per Slack feature, each with ``register(app, deps)``.

Every listener is split Bolt's lazy way: a tiny ``ack`` function answers Slack at once and the work
runs afterwards as a lazy listener. With ``process_before_response=True`` the ack goes out the moment
the ack function returns, instead of after Bolt's 10 ms ack polling.
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.deps import BotDeps
from bot.listeners import actions, commands, events, shortcuts, views


def register_all(app: AsyncApp, deps: BotDeps) -> None:
    for module in (commands, shortcuts, actions, events, views):
        module.register(app, deps)
