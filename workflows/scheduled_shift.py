"""ScheduledShiftWorkflow: what a user's Temporal Schedule starts each morning.

A scheduled run's own id carries a timestamp, so it starts the day as a child with the fixed id
``day-{user}-{date}``; the bot can then address today's shift without a lookup, and a "run now"
earlier the same day makes the scheduled start a no-op instead of a second window.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from workflows.activities import ResolveDayInput, ShiftActivities
    from workflows.daily_shift import DailyShiftWorkflow
    from workflows.models import ScheduleInput, day_workflow_id

SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


@workflow.defn
class ScheduledShiftWorkflow:
    @workflow.run
    async def run(self, inp: ScheduleInput) -> str:
        fired_at = workflow.info().typed_search_attributes.get(SCHEDULED_START) or workflow.now()
        day = await workflow.execute_activity_method(
            ShiftActivities.resolve_day, ResolveDayInput(schedule=inp, fired_at=fired_at),
            start_to_close_timeout=timedelta(seconds=30), retry_policy=RetryPolicy(maximum_attempts=5))
        day_id = day_workflow_id(day.user_id, day.day)
        try:
            await workflow.execute_child_workflow(
                DailyShiftWorkflow.run, day, id=day_id,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                execution_timeout=timedelta(seconds=day.window_seconds * 1.5 + 900))
        except WorkflowAlreadyStartedError:
            return f"{day_id} already ran today"
        return day_id
