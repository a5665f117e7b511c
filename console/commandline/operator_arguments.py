"""The command line of what an operator does besides running actions: Operations, Schedule changes, webhooks.

`arguments.COMMANDS` names these, so `redrunner --help` lists them with the rest.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from backend.statuses import OperationStatus
from console.commandline.arguments import (
    extravars,
    name_list,
    positive_int,
    positive_seconds,
    retries_option,
)

WEBHOOK_EVENTS = ("job.finished", "operation.finished")  # api.md "Notifications"


def events_list(text: str) -> list[str]:
    names = name_list(text)
    unknown = [n for n in names if n not in WEBHOOK_EVENTS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown event {unknown[0]!r} (one of {', '.join(WEBHOOK_EVENTS)})")
    return names


def secret_file(text: str) -> str:
    """`--secret-file F`: the secret read at once, so a missing file is a usage error like any other."""
    try:
        secret = Path(text).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {text}: {exc.strerror or exc}") from None
    if not secret:
        raise argparse.ArgumentTypeError(f"{text} is empty")
    return secret


def schedule_verbs(verbs: Any, common: argparse.ArgumentParser) -> None:
    """`schedule enable|disable|edit NAME`: PATCH /schedules/{name} with only what was given."""
    verbs.add_parser("enable", parents=[common], help="switch a Schedule on").add_argument("name")
    verbs.add_parser("disable", parents=[common], help="switch a Schedule off (it keeps its settings)").add_argument(
        "name"
    )
    edit = verbs.add_parser(
        "edit", parents=[common], help="change a Schedule's fields (only those given)", description="PATCH a Schedule"
    )
    edit.add_argument("name")
    edit.add_argument("--cron", help='five fields: "m h dom mon dow"')
    edit.add_argument("--timezone", help="an IANA name")
    edit.add_argument("--tag")
    edit.add_argument("--units", type=name_list, metavar="a,b,c")
    edit.add_argument("--action")
    edit.add_argument(
        "-e", "--extravars", type=extravars, action="append", default=[], metavar="JSON|@FILE", help="replaces them"
    )
    edit.add_argument("--timeout", type=positive_seconds)
    edit.add_argument("--check", action=argparse.BooleanOptionalAction, help="a dry run (--no-check: a real one)")
    retries_option(edit)


def operations_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("--job", type=positive_int, metavar="ID")
    parser.add_argument("--unit")
    parser.add_argument("--status", choices=[str(s) for s in OperationStatus])
    parser.add_argument("--action")
    parser.add_argument("--limit", type=positive_int, default=50, help="at most this many (default 50, max 500)")


def operation_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("operation_id", type=positive_int, metavar="OPERATION")


def webhook_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """Verbs, each with the common options after it: `webhook add URL --url ...`."""
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    hadd = verbs.add_parser("add", parents=[common], help="register a webhook")
    hadd.add_argument("target", metavar="URL", help="where deliveries are POSTed (http or https)")
    hadd.add_argument(
        "--events",
        type=events_list,
        metavar="e,f",
        help=f"of {', '.join(WEBHOOK_EVENTS)} (server default: job.finished)",
    )
    hadd.add_argument("--tags", type=name_list, metavar="a,b", help="only Jobs with these tags (default: all)")
    hadd.add_argument(
        "--secret-file",
        dest="secret",
        type=secret_file,
        metavar="FILE",
        help="a file holding the whsec_... signing secret (not on the command line)",
    )
    verbs.add_parser("rm", parents=[common], help="delete a webhook and its deliveries").add_argument(
        "webhook_id", type=positive_int, metavar="ID"
    )
    test = verbs.add_parser(
        "test", parents=[common], help="send a test delivery and wait for the receiver's answer (exit 1 if none)"
    )
    test.add_argument("webhook_id", type=positive_int, metavar="ID")
    test.add_argument(
        "--timeout", type=positive_seconds, default=15.0, help="wait this long for the answer (default 15)"
    )
    deliveries = verbs.add_parser("deliveries", parents=[common], help="a webhook's deliveries, newest first")
    deliveries.add_argument("webhook_id", type=positive_int, metavar="ID")
    deliveries.add_argument("--limit", type=positive_int, default=20)
