"""Listeners, one module per Slack feature, each with ``register(app, deps)``."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.deps import BotDeps
from bot.listeners import actions, commands, events, shortcuts, views


def register_all(app: AsyncApp, deps: BotDeps) -> None:
    for module in (commands, shortcuts, actions, events, views):
        module.register(app, deps)
