"""The spec's metrics, live, as Prometheus metrics on 127.0.0.1:DAYSHIFT_METRICS_PORT/metrics.

The figures are counted from the spec's log events (workflows/events.py): one source of truth, so the
logs and the metrics never disagree. The Temporal SDK's own runtime metrics (workflow task latency,
activity polls, sticky cache...) are served by its Rust core on a private loopback port and merged into
the same endpoint at scrape time, so an operator scrapes one target per process.
Each process (bot, extra worker) serves the events of the activities and workflows it ran.
"""

from __future__ import annotations

import logging
import socket
import threading
import urllib.request
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from bot.logging_setup import EVENTS_LOGGER
from bot.settings import Settings
from workflows.events import error_type

disable_created_metrics()  # no *_created series: they double the output and no dashboard here uses them
log = logging.getLogger(__name__)
TASK_BUCKETS = (1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30)
SECONDS_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 10800)


class ShiftMetrics(logging.Handler):
    """A logging handler on the events logger that turns each event into metric updates."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(level=logging.INFO)
        self._lock = threading.Lock()
        self._counts: dict[str, float] = {}
        r = registry
        self.workflows = Counter("dayshift_workflows", "Days that ended, by outcome", ["outcome"], registry=r)
        self.day_tasks = Histogram("dayshift_day_tasks", "Tasks per day (generated + added)", buckets=TASK_BUCKETS,
                                   registry=r)
        self.task_seconds = Histogram("dayshift_task_completion_seconds", "Time from start to completion per task",
                                      buckets=SECONDS_BUCKETS, registry=r)
        self.transitions = Counter("dayshift_task_transitions", "Task status changes, by new status", ["to"],
                                   registry=r)
        self.failures = Counter("dayshift_task_failures", "Task failures, by error type", ["error_type"], registry=r)
        self.retries = Counter("dayshift_task_retries", "Executor retries (attempt 2 and later)", registry=r)
        self.escalations = Counter("dayshift_escalations", "Tasks escalated to their user", registry=r)
        self.warnings = Counter("dayshift_deadline_warnings", "Deadline warnings raised", registry=r)
        self.updates = Counter("dayshift_status_updates", "Status updates (progress, report) by outcome",
                               ["kind", "outcome"], registry=r)
        self.agent_runs = Counter("dayshift_agent_runs", "Agent runs finished", ["role", "ok"], registry=r)
        self.agent_cost = Counter("dayshift_agent_cost_usd", "Agent cost in USD", ["role"], registry=r)
        self.agent_tokens = Counter("dayshift_agent_tokens", "Agent tokens", ["role", "direction"], registry=r)
        self.agent_seconds = Histogram("dayshift_agent_seconds", "Agent run time", ["role"], buckets=SECONDS_BUCKETS,
                                       registry=r)
        Gauge("dayshift_workflow_success_ratio", "Completed days / days that ended", registry=r).set_function(
            lambda: self._ratio("workflow_ok", "workflow_ended"))
        Gauge("dayshift_task_failure_ratio", "Failed tasks / tasks that reached completed or failed",
              registry=r).set_function(lambda: self._ratio("task_failed", "task_finished"))
        Gauge("dayshift_status_update_success_ratio", "Delivered status updates / attempted",
              registry=r).set_function(lambda: self._ratio("update_ok", "update_tried"))

    def _ratio(self, part: str, whole: str) -> float:
        with self._lock:
            total = self._counts.get(whole, 0.0)
            return self._counts.get(part, 0.0) / total if total else float("nan")

    def _count(self, *names: str) -> None:
        with self._lock:
            for name in names:
                self._counts[name] = self._counts.get(name, 0.0) + 1

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._observe(str(getattr(record, "event", "")), getattr(record, "data", None) or {})
        except Exception:  # a metric must never break the code that logged
            self.handleError(record)

    def _observe(self, event: str, data: dict[str, Any]) -> None:
        if event == "workflow_completed":
            outcome = "skipped" if data.get("skipped") else "completed"
            self.workflows.labels(outcome).inc()
            self._count("workflow_ok", "workflow_ended")
            self.day_tasks.observe(float(data.get("tasks_total", 0)))
            for seconds in data.get("task_seconds", []):
                self.task_seconds.observe(float(seconds))
        elif event == "workflow_failed":
            self.workflows.labels("failed").inc()
            self._count("workflow_ended")
        elif event == "task_status_changed":
            to = str(data.get("to"))
            self.transitions.labels(to).inc()
            if to == "completed":
                self._count("task_finished")
            elif to == "failed":
                self.failures.labels(error_type(str(data.get("reason") or ""))).inc()
                self._count("task_failed", "task_finished")
        elif event == "task_retry":
            self.retries.inc()
        elif event == "escalated":
            self.escalations.inc()
        elif event == "deadline_warning":
            self.warnings.inc()
        elif event in ("status_update_delivered", "status_update_failed"):
            ok = event == "status_update_delivered"
            self.updates.labels(str(data.get("kind", "update")), "delivered" if ok else "failed").inc()
            self._count(*(("update_ok", "update_tried") if ok else ("update_tried",)))
        elif event == "agent_finished":
            role = str(data.get("role", "agent"))
            self.agent_runs.labels(role, str(bool(data.get("ok"))).lower()).inc()
            self.agent_cost.labels(role).inc(max(0.0, float(data.get("cost_usd") or 0.0)))
            self.agent_tokens.labels(role, "input").inc(max(0, int(data.get("input_tokens") or 0)))
            self.agent_tokens.labels(role, "output").inc(max(0, int(data.get("output_tokens") or 0)))
            self.agent_seconds.labels(role).observe(float(data.get("seconds") or 0.0))


class TemporalRuntimeMetrics(Collector):
    """Re-serves the Temporal core's Prometheus endpoint (loopback only) inside ours."""

    def __init__(self, url: str) -> None:
        self.url = url

    def collect(self) -> Iterable[Metric]:
        try:
            with urllib.request.urlopen(self.url, timeout=2) as resp:
                text = resp.read().decode("utf-8")
        except OSError as exc:
            log.debug("temporal runtime metrics unavailable", extra={"data": {"error": str(exc)}})
            return []
        return list(text_string_to_metric_families(text))


def temporal_runtime(prometheus_bind: str | None = None) -> Runtime:
    """A Temporal runtime whose Core logs go through Python logging (JSON lines on stderr, not raw text on
    stdout, which would corrupt ``dayshift demo --json``), with Prometheus metrics when asked."""
    return Runtime(telemetry=TelemetryConfig(
        logging=LoggingConfig(filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                              forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core"))),
        metrics=PrometheusConfig(bind_address=prometheus_bind, durations_as_seconds=True) if prometheus_bind else None))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class MetricsServer:
    port: int
    runtime: Runtime
    registry: CollectorRegistry
    handler: ShiftMetrics
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"


@asynccontextmanager
async def serve_metrics(settings: Settings) -> AsyncIterator[MetricsServer | None]:
    """Serve /metrics when DAYSHIFT_METRICS_PORT is set (0 picks a free port); yields None otherwise.

    The yielded ``runtime`` must be given to ``Client.connect`` for Temporal's own metrics to appear.
    """
    if settings.metrics_port is None:
        yield None
        return
    temporal_port = free_port()
    runtime = temporal_runtime(f"127.0.0.1:{temporal_port}")
    registry = CollectorRegistry()
    registry.register(TemporalRuntimeMetrics(f"http://127.0.0.1:{temporal_port}/metrics"))
    handler = ShiftMetrics(registry)
    events = logging.getLogger(EVENTS_LOGGER)
    events.setLevel(logging.INFO)
    events.addHandler(handler)
    server, thread = start_http_server(settings.metrics_port, addr="127.0.0.1", registry=registry)
    port = int(server.server_address[1])
    log.info("metrics served", extra={"event": "metrics_served", "data": {"url": f"http://127.0.0.1:{port}/metrics"}})
    try:
        yield MetricsServer(port=port, runtime=runtime, registry=registry, handler=handler)
    finally:
        events.removeHandler(handler)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
