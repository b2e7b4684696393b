"""The one configuration class. Lower layers receive plain values from it, never the environment."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from storage.artifacts import ArtifactCaps

ALLOWED_START_TIMES = ("08:00", "10:00")


def validate_timezone(value: str) -> str:
    """An IANA zone name, or a clear error naming the bad value."""
    value = value.strip()
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown timezone {value!r}: use an IANA name such as Europe/Berlin or America/New_York") from exc
    return value


def validate_start_time(value: str, *, allow_any: bool = False) -> str:
    value = value.strip()
    if value in ALLOWED_START_TIMES:
        return value
    if allow_any:
        hh, _, mm = value.partition(":")
        if hh.isdigit() and mm.isdigit() and 0 <= int(hh) < 24 and 0 <= int(mm) < 60:
            return f"{int(hh):02d}:{int(mm):02d}"
    raise ValueError(f"start time {value!r} is not allowed: choose 08:00 or 10:00")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    slack_bot_token: SecretStr | None = Field(None, validation_alias="SLACK_BOT_TOKEN")
    slack_app_token: SecretStr | None = Field(None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field("https://slack.com/api/", validation_alias="SLACK_API_URL")

    anthropic_api_key: SecretStr | None = Field(None, validation_alias="ANTHROPIC_API_KEY")
    anthropic_base_url: str | None = Field(None, validation_alias="ANTHROPIC_BASE_URL")

    temporal_address: str | None = Field(None, validation_alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field("default", validation_alias="TEMPORAL_NAMESPACE")
    temporal_api_key: SecretStr | None = Field(None, validation_alias="TEMPORAL_API_KEY")
    temporal_tls: bool = Field(False, validation_alias="TEMPORAL_TLS")
    temporal_ui_port: int = Field(8233, validation_alias="DAYSHIFT_TEMPORAL_UI_PORT")

    data_dir: Path = Field(Path(".dayshift"), validation_alias="DAYSHIFT_DATA_DIR")
    db_path: Path | None = Field(None, validation_alias="DAYSHIFT_DB")

    window_seconds: float = Field(10_800, validation_alias="DAYSHIFT_WINDOW_SECONDS")
    checkpoint_seconds: float = Field(900, validation_alias="DAYSHIFT_CHECKPOINT_SECONDS")
    warning_seconds: float = Field(300, validation_alias="DAYSHIFT_WARNING_SECONDS")
    catchup_seconds: float = Field(3_600, validation_alias="DAYSHIFT_CATCHUP_SECONDS")

    orchestrator_model: str = Field("claude-opus-4-5", validation_alias="DAYSHIFT_ORCHESTRATOR_MODEL")
    executor_model: str = Field("claude-haiku-4-5", validation_alias="DAYSHIFT_EXECUTOR_MODEL")
    max_parallel_tasks: int = Field(3, ge=1, le=32, validation_alias="DAYSHIFT_MAX_PARALLEL_TASKS")
    max_concurrent_agents: int = Field(4, ge=1, le=64, validation_alias="DAYSHIFT_MAX_CONCURRENT_AGENTS")
    daily_budget_usd: float = Field(5.0, gt=0, validation_alias="DAYSHIFT_DAILY_BUDGET_USD")
    # How often at most an executor's progress is signalled to its workflow (every report is stored at once).
    progress_signal_seconds: float = Field(10.0, ge=0, validation_alias="DAYSHIFT_PROGRESS_SIGNAL_SECONDS")
    agent_budget_usd: float = Field(1.0, gt=0, validation_alias="DAYSHIFT_AGENT_BUDGET_USD")
    agent_max_turns: int = Field(30, ge=1, validation_alias="DAYSHIFT_AGENT_MAX_TURNS")
    retention_days: int = Field(90, ge=1, validation_alias="DAYSHIFT_RETENTION_DAYS")

    default_timezone: str = Field("UTC", validation_alias="DAYSHIFT_DEFAULT_TIMEZONE")
    default_start_time: str = Field("08:00", validation_alias="DAYSHIFT_DEFAULT_START_TIME")
    allow_any_start_time: bool = Field(False, validation_alias="DAYSHIFT_ALLOW_ANY_START_TIME")
    log_level: str = Field("INFO", validation_alias=AliasChoices("DAYSHIFT_LOG_LEVEL", "LOG_LEVEL"))

    @field_validator("default_timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return validate_timezone(value)

    @field_validator("window_seconds", "checkpoint_seconds", "warning_seconds", "catchup_seconds")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError(f"must be a positive number of seconds, got {value}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        self.default_start_time = validate_start_time(self.default_start_time, allow_any=self.allow_any_start_time)
        if self.warning_seconds >= self.window_seconds:
            raise ValueError("DAYSHIFT_WARNING_SECONDS must be shorter than DAYSHIFT_WINDOW_SECONDS")
        if self.checkpoint_seconds > self.window_seconds:
            raise ValueError("DAYSHIFT_CHECKPOINT_SECONDS must not exceed DAYSHIFT_WINDOW_SECONDS")
        return self

    # ---- ops (issue 12): model choice, metrics, log file ------------------------------------------
    model: str | None = Field(None, validation_alias="DAYSHIFT_MODEL")
    metrics_port: int | None = Field(None, ge=0, le=65535, validation_alias="DAYSHIFT_METRICS_PORT")
    log_file: Path | None = Field(None, validation_alias="DAYSHIFT_LOG_FILE")

    @field_validator("model")
    @classmethod
    def _model(cls, value: str | None) -> str | None:
        value = (value or "").strip().lower() or None
        if value not in (None, "offline", "claude"):
            raise ValueError(f"DAYSHIFT_MODEL={value!r}: use 'offline' (the scripted model, for trying Dayshift "
                             "out) or 'claude' (needs ANTHROPIC_API_KEY or ANTHROPIC_BASE_URL)")
        return value

    def model_problem(self) -> str | None:
        """Why no model is configured for `run`/`worker`, or None. The offline model is never a silent default."""
        if self.model == "offline" or self.anthropic_api_key is not None or self.anthropic_base_url:
            return None
        return ("No model configured: set ANTHROPIC_API_KEY (Claude API), or ANTHROPIC_BASE_URL for a gateway "
                "that holds the key; to try Dayshift with the scripted offline model, set DAYSHIFT_MODEL=offline "
                "(its reports describe work that did not happen). `dayshift demo` uses it unless "
                "DAYSHIFT_MODEL=claude.")

    @property
    def database_path(self) -> Path:
        return self.db_path or (self.data_dir / "dayshift.db")

    @property
    def has_slack(self) -> bool:
        return self.slack_bot_token is not None and self.slack_app_token is not None

    def missing_slack(self) -> list[str]:
        return [name for name, v in (("SLACK_BOT_TOKEN", self.slack_bot_token),
                                     ("SLACK_APP_TOKEN", self.slack_app_token)) if v is None]

    # ---- web dashboard (bot/web) --------------------------------------------------------------------
    web_port: int = Field(8080, ge=0, le=65535, validation_alias="DAYSHIFT_WEB_PORT")  # 0 = off
    web_host: str = Field("127.0.0.1", validation_alias="DAYSHIFT_WEB_HOST")
    public_url: str | None = Field(None, validation_alias="DAYSHIFT_PUBLIC_URL")
    web_secret: SecretStr | None = Field(None, validation_alias="DAYSHIFT_WEB_SECRET")
    slack_client_id: str | None = Field(None, validation_alias="SLACK_CLIENT_ID")  # Sign in with Slack
    slack_client_secret: SecretStr | None = Field(None, validation_alias="SLACK_CLIENT_SECRET")

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")) or len(value) > 300:
            raise ValueError(f"DAYSHIFT_PUBLIC_URL must be an http(s) URL such as https://dayshift.example.com, "
                             f"got {value[:80]!r}")
        return value

    # ---- containment (issue 10) ---------------------------------------------------------------------
    # Comma-separated domain names WebFetch (and Bash of tasks allowed http) may reach; subdomains included.
    # Loopback, private and metadata addresses stay unreachable whatever this lists.
    http_allowed_domains_csv: str = Field("", validation_alias="DAYSHIFT_HTTP_ALLOWED_DOMAINS")
    # Capabilities the orchestrator may not grant and pre-validation refuses (e.g. "compute,http").
    disabled_capabilities_csv: str = Field("", validation_alias="DAYSHIFT_DISABLED_CAPABILITIES")
    # Most model tokens one agent run may use through the model gateway (unset: max_budget_usd only).
    agent_run_token_cap: int | None = Field(None, ge=1000, validation_alias="DAYSHIFT_AGENT_RUN_TOKEN_CAP")

    @field_validator("http_allowed_domains_csv")
    @classmethod
    def _domains(cls, value: str) -> str:
        from agents.egress import normalise_domain, private_answer

        domains = [normalise_domain(d) for d in value.split(",") if d.strip()]
        for domain in domains:
            if problem := private_answer(domain):
                raise ValueError(f"DAYSHIFT_HTTP_ALLOWED_DOMAINS: {problem}")
        return ",".join(domains)

    @field_validator("disabled_capabilities_csv")
    @classmethod
    def _disabled(cls, value: str) -> str:
        from agents.profiles import unknown_capabilities

        caps = [c.strip().lower() for c in value.split(",") if c.strip()]
        unknown = unknown_capabilities(caps)
        if unknown:
            raise ValueError(f"unknown capability {', '.join(unknown)} in DAYSHIFT_DISABLED_CAPABILITIES")
        return ",".join(caps)

    @property
    def http_allowed_domains(self) -> tuple[str, ...]:
        return tuple(d for d in self.http_allowed_domains_csv.split(",") if d)

    @property
    def disabled_capabilities(self) -> frozenset[str]:
        return frozenset(c for c in self.disabled_capabilities_csv.split(",") if c)

    # ---- integrations (issue 13): artifacts in the day's thread ---------------------------------------
    artifact_max_bytes: int = Field(1_000_000, ge=1, le=50_000_000, validation_alias="DAYSHIFT_ARTIFACT_MAX_BYTES")
    artifact_max_files: int = Field(10, ge=0, le=100, validation_alias="DAYSHIFT_ARTIFACT_MAX_FILES")
    # Comma-separated: text, markdown, csv, json, png, pdf.
    artifact_types_csv: str = Field("text,markdown,csv,json,png,pdf", validation_alias="DAYSHIFT_ARTIFACT_TYPES")

    @field_validator("artifact_types_csv")
    @classmethod
    def _artifact_types(cls, value: str) -> str:
        from storage.artifacts import TYPES, unknown_types

        kinds = [k.strip().lower() for k in value.split(",") if k.strip()]
        unknown = unknown_types(kinds)
        if unknown:
            raise ValueError(f"unknown artifact type {', '.join(unknown)} in DAYSHIFT_ARTIFACT_TYPES "
                             f"(known: {', '.join(TYPES)})")
        return ",".join(kinds)

    @property
    def artifact_caps(self) -> ArtifactCaps:
        from storage.artifacts import ArtifactCaps

        return ArtifactCaps(max_bytes=self.artifact_max_bytes, max_files=self.artifact_max_files,
                            types=frozenset(k for k in self.artifact_types_csv.split(",") if k))

    # ---- integrations (issue 13): the deployment's MCP servers ---------------------------------------
    # A TOML file of [servers.<name>] tables; unset: <data dir>/integrations.toml when it exists.
    integrations_file: Path | None = Field(None, validation_alias="DAYSHIFT_INTEGRATIONS")
    # http_request credentials Dayshift adds per host (the model never sees them): a JSON object
    # {"api.example.com": {"Authorization": "Bearer ..."}}; every host must be in DAYSHIFT_HTTP_ALLOWED_DOMAINS.
    http_credentials: SecretStr | None = Field(None, validation_alias="DAYSHIFT_HTTP_CREDENTIALS")
    http_max_response_bytes: int = Field(200_000, ge=1_000, le=5_000_000,
                                         validation_alias="DAYSHIFT_HTTP_MAX_RESPONSE_BYTES")

    # ---- integrations (issue 13): the e-mail copy of the report ----------------------------------------
    # smtp://user:password@host:587?from=dayshift@example.com (smtps:// for TLS; starttls=1 to require it).
    smtp_url: SecretStr | None = Field(None, validation_alias="DAYSHIFT_SMTP_URL")

    @field_validator("smtp_url")
    @classmethod
    def _smtp(cls, value: SecretStr | None) -> SecretStr | None:
        from bot.email_report import parse_smtp_url

        if value is None or not value.get_secret_value().strip():
            return None
        parse_smtp_url(value.get_secret_value())
        return value

    # --- postgres (issue 15): a shared PostgreSQL for workers on many hosts; wins over DAYSHIFT_DB ---
    database_url: SecretStr | None = Field(None, validation_alias="DAYSHIFT_DATABASE_URL")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        from storage.db import is_postgres_url

        if value is not None and not value.get_secret_value().strip():
            return None
        if value is not None and not is_postgres_url(value.get_secret_value()):
            raise ValueError("DAYSHIFT_DATABASE_URL must be a postgresql://user:password@host:port/db URL")
        return value

    @property
    def database_target(self) -> str | Path:
        """What Store.open takes: the PostgreSQL URL when DAYSHIFT_DATABASE_URL is set, else the SQLite file."""
        return self.database_url.get_secret_value() if self.database_url is not None else self.database_path
