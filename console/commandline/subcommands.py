"""One coroutine per client subcommand: a call or two through the client, then the output.

Each is named as its subcommand in `console.commandline.arguments.COMMANDS`, which is how it is found.
Each returns the exit status for what it started or waited for: 0 when every such Operation
ended `successful`, 1 when any ended otherwise (or had not ended by `--timeout`). API errors and
an unreachable server are raised and turned into 2 and 3 by `console.commandline.main`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from backend import terminal_text
from backend.statuses import JobStatus, OperationStatus
from console.backups import is_restore, source_job
from console.client import Event, Operation, RedRunnerClient
from console.commandline import operator_commands, output
from console.commandline.arguments import merged_extravars
from console.commandline.follow import follow_operation, follow_operations, stream_lines
from console.commandline.waiting import Deadline, wait_job, wait_operations

OK, NOT_SUCCESSFUL, USAGE_ERROR = 0, 1, 2

T = TypeVar("T")

Subcommand = Callable[[RedRunnerClient, argparse.Namespace], Awaitable[int]]


def all_successful(ops: list[Operation]) -> int:
    return OK if all(op.status == OperationStatus.SUCCESSFUL for op in ops) else NOT_SUCCESSFUL


def json_mode(args: argparse.Namespace) -> bool:
    return bool(args.output == "json")


def show(args: argparse.Namespace, value: T, as_table: Callable[[T], None]) -> None:
    """`-o json`: the value as one JSON document; otherwise the table made for it."""
    if json_mode(args):
        output.emit_json(value)
    else:
        as_table(value)


async def started(
    client: RedRunnerClient, args: argparse.Namespace, ops: list[Operation], prefixed: bool, *, one: bool = False
) -> int:
    """Show the Operations just started; with --follow, their output live, then how they ended.

    With `-o json` stdout must stay one JSON document, so the live lines go to stderr then: an object
    for a command that starts `one` Operation (`start`), a list for those that start several.
    """
    if not args.follow:
        show(args, ops[0] if one else ops, lambda value: output.operations_table(ops))
        return OK
    lines = stream_lines(sys.stderr if json_mode(args) else sys.stdout)
    ended = await follow_operations(client, ops, lines, prefixed=prefixed, ansi=args.ansi)
    if json_mode(args):
        output.emit_json(ended[0] if one else ended)
    else:
        sys.stdout.write("\n")
        output.operations_table(ended, await operator_commands.failures_of(client, ended))
    return all_successful(ended)


async def jobs(client: RedRunnerClient, args: argparse.Namespace) -> int:
    found = await client.list_jobs(tag=args.tag, status=args.status, limit=args.limit)
    if found or json_mode(args):
        show(args, found, output.jobs_table)
    else:
        sys.stderr.write(await no_jobs_note(client, args) + "\n")
    return OK


async def no_jobs_note(client: RedRunnerClient, args: argparse.Namespace) -> str:
    """Says nothing matched; for a tag (matched exactly by the server), the tags that contain it."""
    asked = " and ".join(f"{k} {v!r}" for k, v in (("tag", args.tag), ("status", args.status)) if v)
    note = f"redrunner: no Jobs with {asked}" if asked else "redrunner: no Jobs yet"
    if not args.tag:
        return note
    needle = args.tag.casefold()
    near = sorted({j.tag for j in await client.list_jobs(limit=500) if needle in j.tag.casefold()})
    if near:
        note += f" (--tag matches a whole tag; tags containing it: {', '.join(near[:10])})"
    return note


async def job(client: RedRunnerClient, args: argparse.Namespace) -> int:
    found = await client.get_job(args.job_id)
    if json_mode(args):
        output.emit_json(found)
    else:
        output.job_detail(found, await operator_commands.job_failures(client, found))
    return OK


async def each(client: RedRunnerClient, args: argparse.Namespace) -> int:
    # POST /jobs adds the listed Units to a reused Job too, so the action finds every one.
    target = await client.create_job(args.tag, args.units, reuse_latest=args.reuse_latest)
    ops = await client.start_action(
        target.id,
        args.action,
        args.units,
        extravars=merged_extravars(args),
        queue=args.queue,
        timeout=args.timeout,
        check=args.check,
        retries=args.retries or 0,
    )
    return await started(client, args, ops, prefixed=True)


async def start(client: RedRunnerClient, args: argparse.Namespace) -> int:
    op = await client.start_operation(
        args.job_id,
        args.unit,
        args.action,
        extravars=merged_extravars(args),
        queue=args.queue,
        timeout=args.timeout,
        check=args.check,
        retries=args.retries or 0,
    )
    return await started(client, args, [op], prefixed=False, one=True)


async def logs(client: RedRunnerClient, args: argparse.Namespace) -> int:
    if json_mode(args):
        # One document: the events (each with its stdout), all of them once the run has ended.
        if args.follow:
            await wait_operations(client, [args.operation_id], Deadline(None))
        events: list[Event] = []
        after, complete = 0, False
        while not complete:
            page = await client.events(args.operation_id, after=after, limit=5000)
            events.extend(page.items)
            after = page.next_after
            complete = page.complete or not page.items
        output.emit_json(events)
        if not args.follow:
            return OK
        return all_successful([await client.get_operation(args.operation_id)])
    if not args.follow:
        # The server sends it safe already; a terminal is not trusted to whatever answers at the URL.
        sys.stdout.write(terminal_text.for_terminal(await client.stdout(args.operation_id, ansi=args.ansi), args.ansi))
        return OK
    op = await client.get_operation(args.operation_id)
    ended = await follow_operation(client, op, stream_lines(sys.stdout), ansi=args.ansi)
    return all_successful([ended])


async def wait(client: RedRunnerClient, args: argparse.Namespace) -> int:
    deadline = Deadline(args.timeout)
    if args.job is not None:
        found = await wait_job(client, args.job, deadline)
        if json_mode(args):
            output.emit_json(found)
        else:
            output.job_detail(found, await operator_commands.job_failures(client, found))
        return OK if found.status in (JobStatus.SUCCESSFUL, JobStatus.NEW) else NOT_SUCCESSFUL
    ops = await wait_operations(client, args.operation_ids, deadline)
    if json_mode(args):
        output.emit_json(ops)
    else:
        output.operations_table(ops, await operator_commands.failures_of(client, ops))
    return all_successful(ops)


async def cancel(client: RedRunnerClient, args: argparse.Namespace) -> int:
    await client.cancel_operation(args.operation_id)
    op = await client.get_operation(args.operation_id)
    show(args, op, lambda one: output.operations_table([one]))
    return OK


async def rerun(client: RedRunnerClient, args: argparse.Namespace) -> int:
    if not args.yes:
        target = await client.get_job(args.job_id)
        if is_restore(target):
            return refuse(
                f"Job {target.id} is a restore (tag {target.tag}, from Job {source_job(target)}): rerunning it "
                "writes the backup over whatever was written since; pass --yes to rerun it"
            )
    ops = await client.rerun(args.job_id, statuses=args.status, units=args.units)
    if not ops and not json_mode(args):
        sys.stderr.write(f"redrunner: nothing to rerun in Job {args.job_id}\n")
    return await started(client, args, ops, prefixed=True)


def refuse(message: str) -> int:
    sys.stderr.write(f"redrunner: {message}\n")
    return USAGE_ERROR


async def backups(client: RedRunnerClient, args: argparse.Namespace) -> int:
    found = await client.list_backups(tag=args.tag, unit=args.unit, limit=args.limit)
    show(args, found, output.backups_table)
    return OK


async def restore(client: RedRunnerClient, args: argparse.Namespace) -> int:
    if not args.yes:
        which = ", ".join(args.units) if args.units else "every Unit with a backup"
        return refuse(f"restoring Job {args.job_id}'s backups ({which}) writes over live data; pass --yes to restore")
    result = await client.restore(args.job_id, args.units, merged_extravars(args), partial=args.partial)
    for skipped in result.skipped:  # only with --partial: the Units whose backups failed the check
        why = terminal_text.plain(f"{skipped.message} ({skipped.reason})")
        sys.stderr.write(f"redrunner: skipped {terminal_text.plain(skipped.unit)}: {why}\n")
    if not json_mode(args):
        sys.stdout.write(f"restore Job {result.job.id} from backup Job {args.job_id}\n")
    if json_mode(args) and not args.follow:
        output.emit_json(result)
        return OK
    return await started(client, args, result.items, prefixed=True)


async def schedules(client: RedRunnerClient, args: argparse.Namespace) -> int:
    found = await client.list_schedules()
    show(args, found, output.schedules_table)
    return OK


async def schedule(client: RedRunnerClient, args: argparse.Namespace) -> int:
    if args.verb in ("enable", "disable", "edit"):
        return await operator_commands.change_schedule(client, args)
    if args.verb == "add":
        body: dict[str, Any] = {
            "name": args.name,
            "cron": args.cron,
            "tag": args.tag,
            "units": args.units,
            "action": args.action,
            "enabled": not args.disabled,
        }
        optional = {
            "timezone": args.timezone,
            "timeout": args.timeout,
            "extravars": merged_extravars(args),
            "retries": args.retries,
        }
        body.update({k: v for k, v in optional.items() if v})
        if args.check:
            body["check"] = True
        created = await client.create_schedule(body)
        show(args, created, lambda one: output.schedules_table([one]))
    elif args.verb == "rm":
        await client.delete_schedule(args.name)
        if json_mode(args):
            output.emit_json({"deleted": args.name})
        else:
            sys.stdout.write(f"deleted {args.name}\n")
    else:
        fired = await client.run_schedule(args.name)
        show(args, fired, output.job_detail)
    return OK
