"""The fault tests drive the same real bot as tests/bot."""

from tests.bot.conftest import Bot, bot

__all__ = ["Bot", "bot"]
