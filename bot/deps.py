"""What listeners need, passed in explicitly (no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.control import ShiftControl
from bot.home import HomePublisher
from storage.store import Store


@dataclass
class BotDeps:
    control: ShiftControl
    home: HomePublisher
    store: Store
