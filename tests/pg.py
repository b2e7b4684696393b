"""PostgreSQL for tests: a fresh database per test on the server named by DAYSHIFT_TEST_DATABASE_URL.

Defaults to the development/CI server (127.0.0.1:5432, user postgres, trust auth). When it is not reachable
the PostgreSQL cases skip with a message naming the variable, and the SQLite cases still run.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

ENV = "DAYSHIFT_TEST_DATABASE_URL"
# Read once at import: the autouse fixture clears DAYSHIFT_* variables for each test.
ADMIN_URL = os.environ.get(ENV, "postgresql://postgres@127.0.0.1:5432/postgres")
_reachable: bool | None = None


def reachable() -> bool:
    global _reachable
    if _reachable is None:
        parts = urlsplit(ADMIN_URL)
        try:
            with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=2):
                _reachable = True
        except OSError:
            _reachable = False
    return _reachable


def skip_unless_reachable() -> None:
    if not reachable():
        parts = urlsplit(ADMIN_URL)
        pytest.skip(f"PostgreSQL not reachable at {parts.hostname}:{parts.port or 5432}: set {ENV}=postgresql://... "
                    "to run the PostgreSQL cases")


def _with_db(name: str) -> str:
    parts = urlsplit(ADMIN_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


async def create_database() -> str:
    """A fresh, empty database; returns its URL."""
    import asyncpg

    skip_unless_reachable()
    name = f"dayshift_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _with_db(name)


async def drop_database(url: str) -> None:
    import asyncpg

    name = urlsplit(url).path.lstrip("/")
    assert name.startswith("dayshift_test_"), name
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def create_database_sync() -> str:
    return asyncio.run(create_database())


def drop_database_sync(url: str) -> None:
    asyncio.run(drop_database(url))
