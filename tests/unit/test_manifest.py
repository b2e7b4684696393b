"""manifest.yml creates the app as is: valid against Slack's schema and consistent with the listeners."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT.parent / "shared" / "slack" / "manifest.schema.1.0.0.json"


def manifest() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


@pytest.mark.skipif(not SCHEMA.exists(), reason="../shared/slack schema not present")
def test_manifest_validates_against_slack_schema() -> None:
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    errors = list(jsonschema.validators.validator_for(schema)(schema).iter_errors(manifest()))
    assert errors == [], [e.message for e in errors]


def _app(api_url: str):  # type: ignore[no-untyped-def]
    from unittest.mock import AsyncMock, MagicMock

    from slack_sdk.web.async_client import AsyncWebClient

    from bot.app import create_app

    deps = MagicMock()
    deps.control = AsyncMock()
    deps.home = AsyncMock()
    deps.store = AsyncMock()
    return create_app(AsyncWebClient(token="xoxb-test", base_url=api_url), deps)


def _registered(app) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    """Listener keys by kind, read from Bolt's built-in matchers (command/shortcut/event/action/view)."""
    found: dict[str, set[str]] = {}
    for listener in app._async_listeners:
        for matcher in listener.matchers:
            for cell in getattr(matcher, "func", None).__closure__ or ():
                inner = cell.cell_contents
                kind = getattr(inner, "__qualname__", "").split(".")[0]
                for c in getattr(inner, "__closure__", None) or ():
                    if isinstance(c.cell_contents, str):
                        found.setdefault(kind, set()).add(c.cell_contents)
    return found


async def test_every_manifest_entry_has_a_listener_and_vice_versa() -> None:
    from slack_bolt.request.async_request import AsyncBoltRequest

    from tests.fakes.slack import FakeSlack

    m = manifest()
    fake = await FakeSlack().start()
    app = _app(fake.api_url)
    commands = {c["command"] for c in m["features"]["slash_commands"]}
    shortcuts = {s["callback_id"] for s in m["features"]["shortcuts"]}
    events = set(m["settings"]["event_subscriptions"]["bot_events"])
    bodies = [fake.command("U1", "help") | {"command": c} for c in commands]
    bodies += [fake.message_action("U1", "hi") | {"callback_id": s} for s in shortcuts]
    bodies += [fake.home_opened("U1", "Ev1") | {"event": {"type": e, "user": "U1", "tab": "home"}} for e in events]
    for body in bodies:  # each manifest entry is routed to a listener (Bolt answers 404 when none matches)
        response = await app.async_dispatch(AsyncBoltRequest(body=body, mode="socket_mode"))
        assert response.status == 200, body
    await fake.stop()
    found = _registered(app)
    assert found["command"] == commands and found["shortcut"] == shortcuts and found["event"] == events
    assert {"retry_task", "skip_task"} <= found["action"] and found["view_submission"] == {"settings_submit"}
    settings = m["settings"]
    assert settings["socket_mode_enabled"] is True and settings["interactivity"]["is_enabled"] is True
    assert "request_url" not in json.dumps(m) and "commands" in m["oauth_config"]["scopes"]["bot"]
    assert m["features"]["app_home"]["home_tab_enabled"] is True


def test_procfile_runs_the_bot_as_a_worker_process() -> None:
    lines = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert lines == {"bot": "dayshift run", "worker": "dayshift worker"}
