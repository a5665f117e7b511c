"""The client subcommands' command line: what each takes, checked before anything is sent.

argparse reports a usage error with exit status 2, which is also the contract's status for
usage errors, so a bad flag and a bad `-e` look the same to a script.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.names import MAX_RETRIES
from backend.statuses import JobStatus

DEFAULT_URL = "http://127.0.0.1:8787"


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0: {text!r}")
    return value


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not an id: {text!r}")
    return int(text)


def retry_count(text: str) -> int:
    """`--retries N`: the API takes 0 to 10 further attempts."""
    if not text.isdigit() or int(text) > MAX_RETRIES:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to {MAX_RETRIES}: {text!r}")
    return int(text)


def name_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("an empty list")
    return names


def extravars(text: str) -> dict[str, Any]:
    """`-e '{"k": 1}'` or `-e @vars.json`: a JSON object."""
    source = text
    if text.startswith("@"):
        try:
            source = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"cannot read {text[1:]}: {exc.strerror or exc}") from None
    try:
        value = json.loads(source)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON ({exc}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object: {text!r}")
    return value


def default_url(environ: Mapping[str, str] = os.environ) -> str:
    """$REDRUNNER_URL; else the server beside us: its $REDRUNNER_PORT (the pod's setting) or 8787."""
    if environ.get("REDRUNNER_URL"):
        return environ["REDRUNNER_URL"]
    port = environ.get("REDRUNNER_PORT", "")
    return f"http://127.0.0.1:{port}" if port.isdigit() else DEFAULT_URL


def common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=default_url(),
        help=f"server URL (default: $REDRUNNER_URL, else 127.0.0.1 on $REDRUNNER_PORT, else {DEFAULT_URL})",
    )
    common.add_argument(
        "--token-file",
        help="file holding the bearer token (default: $REDRUNNER_TOKEN_FILE, else the token in $REDRUNNER_TOKEN)",
    )
    common.add_argument(
        "-o", "--output", choices=("table", "json"), default="table", help="table for people, json for scripts"
    )
    return common


def run_options(parser: argparse.ArgumentParser) -> None:
    """What starting an action takes, for `each` and `start` alike."""
    parser.add_argument(
        "-e",
        "--extravars",
        type=extravars,
        action="append",
        default=[],
        metavar="JSON|@FILE",
        help="extra vars as a JSON object or @file.json; repeatable, later ones win",
    )
    parser.add_argument("--timeout", type=positive_seconds, help="stop each run after this many seconds")
    parser.add_argument("--check", action="store_true", help="a dry run (ansible-playbook --check)")
    parser.add_argument("--queue", action="store_true", help="wait for a busy Unit instead of failing")
    retries_option(parser)
    follow_options(parser)


def retries_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--retries",
        type=retry_count,
        metavar="N",
        help="start a failed, timed-out or lost run again up to N times (0-10, server default 0)",
    )


def follow_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--follow", action="store_true", help="print the output live and wait for the end")
    ansi_option(parser)


def ansi_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ansi", action="store_true", help="keep ansible's colour codes (default: plain text)")


Arguments = Callable[[argparse.ArgumentParser, argparse.ArgumentParser], None]


def jobs_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("--tag")
    parser.add_argument("--status", choices=[str(s) for s in JobStatus])
    parser.add_argument("--limit", type=positive_int, default=50, help="at most this many (default 50, max 500)")


def audit_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("--actor", metavar="NAME", help="only this token's records (or unknown, anonymous)")
    parser.add_argument("--limit", type=positive_int, default=50, help="at most this many (default 50, max 500)")


def job_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("job_id", type=positive_int)


def each_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("action", help="a playbook file name, or a shorthand: backup runs backup-<unit>.yml")
    parser.add_argument("--tag", required=True)
    parser.add_argument("--units", type=name_list, required=True, metavar="a,b,c")
    parser.add_argument("--reuse-latest", action="store_true", help="use the newest Job with the tag, if any")
    run_options(parser)


def start_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("job_id", type=positive_int, metavar="JOB")
    parser.add_argument("unit", metavar="UNIT")
    parser.add_argument("action", metavar="ACTION")
    run_options(parser)


def logs_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("operation_id", type=positive_int, metavar="OPERATION")
    parser.add_argument("-f", "--follow", action="store_true", help="follow it live to the end")
    ansi_option(parser)


def wait_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("operation_ids", type=positive_int, nargs="*", metavar="OPERATION")
    parser.add_argument("--job", type=positive_int, metavar="ID")
    parser.add_argument("--timeout", type=positive_seconds, help="give up after this many seconds (exit 1)")


def cancel_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("operation_id", type=positive_int, metavar="OPERATION")


def rerun_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("job_id", type=positive_int, metavar="JOB")
    parser.add_argument(
        "--status", type=name_list, metavar="s,t", help="only these end states (server default: all failures)"
    )
    parser.add_argument("--units", type=name_list, metavar="a,b,c")
    parser.add_argument("--yes", action="store_true", help="confirm rerunning a restore (it writes over live data)")
    follow_options(parser)


def backups_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("--tag", help="only backups made in Jobs with this tag")
    parser.add_argument("--unit", help="only backups of this Unit")
    parser.add_argument("--limit", type=positive_int, default=50, help="at most this many (default 50, max 500)")


def restore_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("job_id", type=positive_int, metavar="JOB", help="the backup Job")
    parser.add_argument("--units", type=name_list, metavar="a,b,c", help="default: every Unit with a backup")
    parser.add_argument(
        "-e",
        "--extravars",
        type=extravars,
        action="append",
        default=[],
        metavar="JSON|@FILE",
        help="extra vars as a JSON object or @file.json; repeatable, later ones win",
    )
    parser.add_argument("--yes", action="store_true", help="confirm: a restore writes over live data")
    parser.add_argument(
        "--partial",
        action="store_true",
        help="restore the Units whose sealed backups pass the server's check, skipping the others "
        "(default: all or nothing, as restore-each.yml without -e redrunner_restore_partial=true)",
    )
    follow_options(parser)


def no_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    pass


def schedule_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """Verbs, each with the common options after it: `schedule add --url ...`."""
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    sadd = verbs.add_parser("add", parents=[common], help="create a Schedule")
    sadd.add_argument("name")
    sadd.add_argument("--cron", required=True, help='five fields: "m h dom mon dow"')
    sadd.add_argument("--timezone", help="an IANA name (server default: UTC)")
    sadd.add_argument("--tag", required=True)
    sadd.add_argument("--units", type=name_list, required=True, metavar="a,b,c")
    sadd.add_argument("--action", required=True)
    sadd.add_argument("-e", "--extravars", type=extravars, action="append", default=[], metavar="JSON|@FILE")
    sadd.add_argument("--timeout", type=positive_seconds)
    sadd.add_argument("--check", action="store_true")
    retries_option(sadd)
    sadd.add_argument("--disabled", action="store_true", help="create it switched off")
    verbs.add_parser("rm", parents=[common], help="delete a Schedule").add_argument("name")
    verbs.add_parser("run", parents=[common], help="fire a Schedule now").add_argument("name")
    from console.commandline import operator_arguments  # it builds on the helpers above

    operator_arguments.schedule_verbs(verbs, common)


def operator(name: str) -> Arguments:
    """An arguments function of operator_arguments, imported when the parser is built (it imports this)."""

    def add(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
        from console.commandline import operator_arguments

        arguments: Arguments = getattr(operator_arguments, name)
        arguments(parser, common)

    return add


@dataclass(frozen=True)
class Command:
    """One client subcommand, run by the coroutine of its name in console.commandline.<module>."""

    name: str
    help: str  # in `redrunner --help` and as the subcommand's description
    arguments: Arguments
    description: str = ""  # when it differs from `help`
    common: bool = True  # takes --url, --token-file and -o itself (schedule's and webhook's verbs take them)
    module: str = "subcommands"


# Every client subcommand, once: `redrunner --help` (backend/cli.py), this parser and the dispatch
# (console/commandline/__init__.py) are made from it.
COMMANDS: tuple[Command, ...] = (
    Command("jobs", "list Jobs, newest first", jobs_arguments),
    Command("job", "one Job with its Units and their latest Operations", job_arguments),
    Command("each", "run an action on every Unit of a Job (a new one, or the newest with the tag)", each_arguments),
    Command("start", "run an action on one Unit of a Job", start_arguments),
    Command("logs", "an Operation's output", logs_arguments),
    Command("wait", "wait until Operations (or every Operation of a Job) have ended", wait_arguments),
    Command("cancel", "stop a pending or running Operation", cancel_arguments),
    Command("rerun", "start again every Unit whose latest Operation did not succeed", rerun_arguments),
    Command("backups", "list backups, newest first: kept by retention? verified by a drill?", backups_arguments),
    Command("restore", "restore a backup Job's backups, in a new Job tagged restore", restore_arguments),
    Command("schedules", "list Schedules", no_arguments),
    Command(
        "schedule",
        "add, remove, fire, enable, disable or edit a Schedule",
        schedule_arguments,
        description="Manage Schedules.",
        common=False,
    ),
    Command(
        "operations",
        "list Operations, newest first, with the task that failed and why",
        operator("operations_arguments"),
        module="operator_commands",
    ),
    Command(
        "operation",
        "one Operation: its request, how it ended, the task that failed and why",
        operator("operation_arguments"),
        module="operator_commands",
    ),
    Command("webhooks", "list webhooks", no_arguments, module="operator_commands"),
    Command(
        "webhook",
        "add, remove or test a webhook",
        operator("webhook_arguments"),
        description="Manage webhooks.",
        common=False,
        module="operator_commands",
    ),
    Command(
        "audit",
        "the audit trail: who changed what, newest first (an admin token)",
        audit_arguments,
        module="access_commands",
    ),
)
COMMAND_NAMES = frozenset(c.name for c in COMMANDS)


def runner(name: str) -> Callable[[Any, argparse.Namespace], Awaitable[int]]:
    """The coroutine that runs command `name`: the one of its name in its module (imported only now: the
    modules import the client)."""
    (command,) = [c for c in COMMANDS if c.name == name]
    run: Callable[[Any, argparse.Namespace], Awaitable[int]] = getattr(
        importlib.import_module(f"console.commandline.{command.module}"), name
    )
    return run


def build_parser(prog: str = "redrunner") -> argparse.ArgumentParser:
    common = common_options()
    parser = argparse.ArgumentParser(prog=prog, description="Command-line client of a RedRunner server.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for c in COMMANDS:
        parents = [common] if c.common else []
        c.arguments(sub.add_parser(c.name, parents=parents, help=c.help, description=c.description or c.help), common)
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "wait" and bool(args.operation_ids) == (args.job is not None):
        parser.error("wait takes OPERATION... or --job ID (one of the two)")
    return args


def merged_extravars(args: argparse.Namespace) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in getattr(args, "extravars", []):
        merged.update(part)
    return merged
