"""The storage facade handed to the layers above: one object, one repository per concern."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from storage.artifacts import ArtifactRepository
from storage.audit import AuditRepository
from storage.db import Database
from storage.email_reports import EmailReportRepository
from storage.escalations import EscalationRepository
from storage.history import HistoryRepository
from storage.ledger import LedgerRepository
from storage.memory import MemoryRepository
from storage.runs import RunRepository
from storage.sessions import SqliteSessionStore
from storage.stats import StatsRepository
from storage.tasks import TaskRepository
from storage.users import UserRepository
from storage.web_sessions import WebSessionRepository


@dataclass
class Store:
    db: Database
    users: UserRepository
    tasks: TaskRepository
    history: HistoryRepository
    memory: MemoryRepository
    runs: RunRepository
    escalations: EscalationRepository
    ledger: LedgerRepository
    audit: AuditRepository
    sessions: SqliteSessionStore
    artifacts: ArtifactRepository
    email_reports: EmailReportRepository
    web_sessions: WebSessionRepository
    stats: StatsRepository

    @classmethod
    async def open(cls, path: str | Path) -> Store:
        db = await Database.open(path)
        return cls(
            db=db,
            users=UserRepository(db),
            tasks=TaskRepository(db),
            history=HistoryRepository(db),
            memory=MemoryRepository(db),
            runs=RunRepository(db),
            escalations=EscalationRepository(db),
            ledger=LedgerRepository(db),
            audit=AuditRepository(db),
            sessions=SqliteSessionStore(db),
            artifacts=ArtifactRepository(db),
            email_reports=EmailReportRepository(db),
            web_sessions=WebSessionRepository(db),
            stats=StatsRepository(db),
        )

    async def close(self) -> None:
        await self.db.close()
