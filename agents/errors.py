"""Map what the SDK raises to retryable / non-retryable AgentFailure for the workflow."""

from __future__ import annotations

from claude_agent_sdk import CLIConnectionError, CLINotFoundError, ProcessError, ResultError, ResultMessage

from agents.contracts import AgentFailure

TRANSIENT_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def classify(exc: BaseException) -> AgentFailure:
    if isinstance(exc, AgentFailure):
        return exc
    if isinstance(exc, ResultError):
        detail = "; ".join(exc.errors) or (exc.result or "").strip() or exc.subtype or "agent error"
        if "sandbox required but unavailable" in detail.lower():
            return AgentFailure(f"the OS sandbox could not start, so Bash was not run: {detail}", retryable=False,
                                kind="SandboxUnavailable")
        if exc.subtype == "error_max_budget_usd":
            return AgentFailure(f"agent budget exhausted: {detail}", retryable=False, kind="BudgetExceeded")
        if exc.subtype == "error_max_turns":
            return AgentFailure(f"agent hit its turn limit: {detail}", retryable=False, kind="MaxTurns")
        status = exc.api_error_status
        if status in (401, 403):
            return AgentFailure(f"model API refused the credentials ({status})", retryable=False, kind="AuthError")
        if status == 400:
            return AgentFailure(f"model API rejected the request: {detail}", retryable=False, kind="InvalidTask")
        if status in TRANSIENT_STATUS or exc.terminal_reason == "api_error":
            return AgentFailure(f"model API error{f' {status}' if status else ''}: {detail}", retryable=True,
                                kind="ApiError")
        return AgentFailure(f"agent run failed: {detail}", retryable=True, kind="AgentError")
    if isinstance(exc, CLINotFoundError):
        return AgentFailure(f"Claude Code CLI not found: {exc}", retryable=False, kind="AgentSetup")
    if isinstance(exc, (CLIConnectionError, ProcessError)):
        return AgentFailure(f"agent process failed: {str(exc)[:300]}", retryable=True, kind="AgentCrashed")
    if isinstance(exc, TimeoutError):
        return AgentFailure("agent timed out", retryable=True, kind="Timeout")
    return AgentFailure(f"unexpected agent error: {type(exc).__name__}: {str(exc)[:300]}", retryable=True,
                        kind="AgentError")


def classify_result(result: ResultMessage) -> AgentFailure:
    """An error ``ResultMessage`` (the CLI reports it before exiting) classified like ``ResultError``."""
    data = {"subtype": result.subtype, "result": result.result, "session_id": result.session_id,
            "errors": getattr(result, "errors", None), "api_error_status": getattr(result, "api_error_status", None),
            "terminal_reason": getattr(result, "terminal_reason", None)}
    return classify(ResultError(f"agent ended with {result.subtype}", data=data))
