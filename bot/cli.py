"""The ``dayshift`` command: run (Slack bot + worker), demo, worker, stats, auto (what ``make run`` calls)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from pydantic import ValidationError

from bot.logging_setup import configure_logging
from bot.services import ModelNotConfigured
from bot.settings import Settings

SLACK_HELP = """Slack is not configured: {missing} not set.
To create the Slack app:
  1. https://api.slack.com/apps -> Create New App -> From an app manifest -> paste manifest.yml
  2. Install it to your workspace; copy the Bot User OAuth Token (xoxb-...) into SLACK_BOT_TOKEN
  3. Basic Information -> App-Level Tokens -> generate one with connections:write (xapp-...) into SLACK_APP_TOKEN
Then run `dayshift run` again. Without Slack, `dayshift demo` runs a compressed day in the terminal."""


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "\n".join(f"  - {'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
                             for e in exc.errors())
        print(f"Invalid configuration:\n{problems}", file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dayshift", description="A daily autonomous AI shift per user, from Slack.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="Slack bot (socket mode) with the Temporal worker in-process")
    demo = sub.add_parser("demo", help="a compressed day in the terminal (offline model unless DAYSHIFT_MODEL=claude)")
    demo.add_argument("--window-seconds", type=float, default=120.0, help="length of the compressed day (120)")
    demo.add_argument("--json", action="store_true", help="print the status report as JSON")
    demo.add_argument("--keep-metrics", type=float, default=0.0, metavar="SECONDS",
                      help="keep serving DAYSHIFT_METRICS_PORT this long after the report, for a scrape")
    sub.add_parser("worker", help="a Temporal worker alone, for extra capacity against TEMPORAL_ADDRESS")
    stats = sub.add_parser("stats", help="the spec's metrics from SQLite")
    stats.add_argument("--days", type=int, default=30)
    stats.add_argument("--json", action="store_true")
    sub.add_parser("auto", help="`dayshift run` when Slack tokens are set, else `dayshift demo`")
    args = parser.parse_args(argv)

    settings = load_settings()
    configure_logging(settings.log_level if args.command in ("run", "worker") else "ERROR",
                      log_file=settings.log_file, events_on_stream=args.command in ("run", "worker"))
    if args.command == "auto":
        if settings.has_slack:
            print("Slack tokens found: starting `dayshift run`.", file=sys.stderr)
            args.command = "run"
        else:
            print(f"No Slack tokens ({', '.join(settings.missing_slack())} unset): running `dayshift demo`, "
                  "a compressed day in the terminal. See README for the Slack setup.", file=sys.stderr)
            args.command, args.window_seconds, args.json = "demo", 120.0, False
    if args.command in ("run", "worker") and settings.model_problem():
        print(settings.model_problem(), file=sys.stderr)  # before connecting to anything
        raise SystemExit(2)
    try:
        if args.command == "demo":
            from bot.demo import run_demo

            if args.window_seconds < 5:
                parser.error("--window-seconds must be at least 5")
            asyncio.run(run_demo(settings, window=args.window_seconds, as_json=args.json, live=not args.json,
                                 keep_metrics=getattr(args, "keep_metrics", 0.0)))
        elif args.command == "run":
            if not settings.has_slack:
                print(SLACK_HELP.format(missing=" and ".join(settings.missing_slack())), file=sys.stderr)
                raise SystemExit(2)
            from bot.main_run import HARD_STOP_SECONDS, BadSlackToken, run_bot

            try:
                asyncio.run(run_bot(settings, hard_stop_after=HARD_STOP_SECONDS))
            except BadSlackToken as exc:
                print(str(exc), file=sys.stderr)
                raise SystemExit(3) from None
        elif args.command == "worker":
            from bot.main_run import HARD_STOP_SECONDS, run_worker

            asyncio.run(run_worker(settings, hard_stop_after=HARD_STOP_SECONDS))
        elif args.command == "stats":
            from bot.stats import collect_stats, render_stats

            figures = asyncio.run(collect_stats(settings, args.days))
            print(json.dumps(figures, indent=2) if args.json else render_stats(figures))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except ModelNotConfigured as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
