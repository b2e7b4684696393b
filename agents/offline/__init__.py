"""The offline model: an Anthropic-Messages-compatible server that plays Dayshift's agents."""

from agents.offline.server import OfflineModel

__all__ = ["OfflineModel"]
