"""The canonical task record (issue 11 item 1): whole outputs and tokens survive the workflow's mirror and
the archive; the other task shapes are derived from the row's bases. Real SQLite, no fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agents.contracts import TaskBrief, TaskDraft
from storage.models import HistoryTask, Task, TaskIdentity, TaskMirror, TaskSpec, TaskStatus
from storage.store import Store
from workflows.models import OUTPUT_SUMMARY_CHARS, ReportItem, TaskState
from workflows.records import brief, report_item, state_from_row, summary, to_row

LONG = "".join(f"line {i:04d}: the whole output of the executor, kept verbatim.\n" for i in range(32))
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


async def test_mirror_never_overwrites_the_whole_output_or_tokens(store: Store) -> None:
    assert len(LONG) >= 1744
    await store.users.ensure("U1")
    wf = "day-U1-2026-11-28"
    t = TaskState(task_id="00000000-aaaa-bbbb-cccc-000000000001", short_id="000000", description="write it up",
                  capabilities=["files"], status=TaskStatus.IN_PROGRESS, start_time=NOW, attempts=0)
    await store.tasks.mirror(to_row("U1", wf, t, NOW))
    # What execute_task does: the whole output and the usage go to the row; the workflow gets a summary.
    await store.tasks.update_fields("U1", t.task_id, {"output": LONG})
    await store.tasks.add_usage("U1", t.task_id, 0.0123, 1500, 700)
    done = t.model_copy(update={"status": TaskStatus.COMPLETED, "output": summary(LONG), "progress": 100,
                                "attempts": 1, "end_time": NOW + timedelta(minutes=3)})
    assert len(done.output or "") == OUTPUT_SUMMARY_CHARS
    await store.tasks.mirror(to_row("U1", wf, done, NOW), message="completed")

    row = await store.tasks.get("U1", t.task_id)
    assert row.status is TaskStatus.COMPLETED and row.progress == 100
    assert row.output == LONG
    assert (row.input_tokens, row.output_tokens, row.cost_usd) == (1500, 700, 0.0123)

    await store.history.archive_day("U1", wf, "2026-11-28")
    [archived] = await store.history.day("U1", "2026-11-28")
    assert archived.output == LONG
    assert (archived.input_tokens, archived.output_tokens, archived.cost_usd) == (1500, 700, 0.0123)


async def test_a_full_row_passed_to_mirror_still_writes_only_the_workflows_columns(store: Store) -> None:
    await store.users.ensure("U1")
    task, _ = await store.tasks.create("U1", "x", generated_by="user")
    await store.tasks.update_fields("U1", task.task_id, {"output": LONG})
    stale = task.model_copy(update={"status": TaskStatus.IN_PROGRESS, "output": None, "input_tokens": 0})
    await store.tasks.mirror(stale)
    row = await store.tasks.get("U1", task.task_id)
    assert row.status is TaskStatus.IN_PROGRESS and row.output == LONG


def test_shapes_derive_from_the_canonical_record() -> None:
    # Every shape carries what a task asks for through the same base, so a new field lands everywhere.
    for shape in (TaskDraft, TaskBrief, TaskState, ReportItem, Task, HistoryTask, TaskMirror):
        assert issubclass(shape, TaskSpec), shape
    for shape in (TaskBrief, TaskState, Task, HistoryTask):
        assert issubclass(shape, TaskIdentity), shape
    # The mirror's columns are the row's minus what the executor owns.
    assert set(Task.model_fields) - set(TaskMirror.model_fields) == {
        "output", "cost_usd", "input_tokens", "output_tokens", "updated_at"}

    row = Task(task_id="t-1", user_id="U1", short_id="abc123", created_at=NOW.isoformat(), generated_by="user",
               description="tidy", capabilities=["files"], category="ops", status=TaskStatus.PENDING,
               source_ref="T/C/1", output=LONG)
    state = state_from_row(row)
    assert (state.task_id, state.short_id, state.description, state.capabilities, state.category,
            state.generated_by, state.source_ref) == ("t-1", "abc123", "tidy", ["files"], "ops", "user", "T/C/1")
    assert state.output is None  # the workflow never carries a whole output
    b = brief(state.model_copy(update={"blocked_reason": "pre-validation failed"}))
    assert (b.task_id, b.category, b.status, b.note) == ("t-1", "ops", "pending", "pre-validation failed")
    item = report_item(state, NOW)
    assert (item.task_id, item.short_id, item.reason) == ("t-1", "abc123", "Not yet assigned")
    mirror = to_row("U1", "wf", state, NOW)
    assert not set(mirror.model_dump()) & {"output", "cost_usd", "input_tokens", "output_tokens"}
