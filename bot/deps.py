"""What listeners need, passed in explicitly (no globals)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.control import ShiftControl
from bot.home import HomePublisher
from storage.store import Store

if TYPE_CHECKING:
    from bot.web.server import Dashboard


@dataclass
class BotDeps:
    control: ShiftControl
    home: HomePublisher
    store: Store
    web: Dashboard | None = None  # the web dashboard, when DAYSHIFT_WEB_PORT is not 0
