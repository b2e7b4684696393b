"""Workflow tests use the Temporal fixtures of tests/conftest.py."""

from tests.conftest import queue

__all__ = ["queue"]
