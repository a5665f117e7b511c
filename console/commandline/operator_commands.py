"""What an operator does besides running actions: Operations with why they failed, Schedule changes, webhooks.

Each coroutine returns the exit status as `subcommands` does; API errors are raised to `commandline.main`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable
from typing import Any

from console.client import Delivery, Job, Operation, RedRunnerClient
from console.commandline import output
from console.commandline.arguments import merged_extravars
from console.failure import find_failure, worth_asking

OK, NOT_SUCCESSFUL = 0, 1

# Event reads in flight at once when a table explains many failed Operations.
PARALLEL_READS = 8
# How often `webhook test` looks at the delivery while it waits for the receiver's answer.
DELIVERY_POLL = 0.5


def _json(args: argparse.Namespace) -> bool:
    return bool(args.output == "json")


async def failures_of(client: RedRunnerClient, ops: Iterable[Operation]) -> output.Failures:
    """The failing task and message of each Operation that ran and did not succeed."""
    gate = asyncio.Semaphore(PARALLEL_READS)
    asked = [op for op in ops if worth_asking(op)]

    async def one(op: Operation) -> None:
        async with gate:
            found[op.id] = await find_failure(client, op)

    found: dict[int, Any] = {}
    await asyncio.gather(*(one(op) for op in asked))
    return {op_id: failure for op_id, failure in found.items() if failure is not None}


async def job_failures(client: RedRunnerClient, job: Job) -> output.Failures:
    return await failures_of(client, [u.latest_operation for u in job.units if u.latest_operation is not None])


async def operations(client: RedRunnerClient, args: argparse.Namespace) -> int:
    found = await client.list_operations(
        job_id=args.job, unit=args.unit, status=args.status, action=args.action, limit=args.limit
    )
    if _json(args):
        output.emit_json(found)
    elif not found:
        sys.stderr.write("redrunner: no Operations match\n")
    else:
        output.operations_table(found, await failures_of(client, found))
    return OK


async def operation(client: RedRunnerClient, args: argparse.Namespace) -> int:
    op = await client.get_operation(args.operation_id)
    if _json(args):
        output.emit_json(op)
    else:
        output.operation_detail(op, await failures_of(client, [op]))
    return OK


async def change_schedule(client: RedRunnerClient, args: argparse.Namespace) -> int:
    """`schedule enable|disable|edit NAME`: one PATCH with only what was given."""
    if args.verb in ("enable", "disable"):
        changes: dict[str, Any] = {"enabled": args.verb == "enable"}
    else:
        given = {
            "cron": args.cron,
            "timezone": args.timezone,
            "tag": args.tag,
            "units": args.units,
            "action": args.action,
            "timeout": args.timeout,
            "check": args.check,
            "retries": args.retries,
        }
        changes = {k: v for k, v in given.items() if v is not None}
        if args.extravars:
            changes["extravars"] = merged_extravars(args)
        if not changes:
            sys.stderr.write("redrunner: schedule edit: nothing to change (give --cron, --tag, --units, ...)\n")
            return 2
    changed = await client.update_schedule(args.name, changes)
    if _json(args):
        output.emit_json(changed)
    else:
        output.schedules_table([changed])
    return OK


async def webhooks(client: RedRunnerClient, args: argparse.Namespace) -> int:
    found = await client.list_webhooks()
    if _json(args):
        output.emit_json(found)
    elif not found:
        sys.stderr.write("redrunner: no webhooks\n")
    else:
        output.webhooks_table(found)
    return OK


async def _answered(client: RedRunnerClient, queued: Delivery, seconds: float) -> Delivery:
    """The delivery once an attempt has been made (delivered, or retrying), or as it is at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    latest = queued
    while True:
        for delivery in await client.deliveries(queued.webhook_id, limit=20):
            if delivery.id == queued.id:
                latest = delivery
        if latest.status != "pending" or latest.attempts or loop.time() >= deadline:
            return latest
        await asyncio.sleep(min(DELIVERY_POLL, max(0.0, deadline - loop.time())))


async def webhook(client: RedRunnerClient, args: argparse.Namespace) -> int:
    if args.verb == "add":
        body: dict[str, Any] = {"url": args.target}
        if args.events:
            body["events"] = args.events
        if args.tags:
            body["tags"] = args.tags
        if args.secret:
            body["secret"] = args.secret
        created = await client.create_webhook(body)
        if _json(args):
            output.emit_json(created)
        else:
            output.webhooks_table([created])
        return OK
    if args.verb == "rm":
        await client.delete_webhook(args.webhook_id)
        if _json(args):
            output.emit_json({"deleted": args.webhook_id})
        else:
            sys.stdout.write(f"deleted webhook {args.webhook_id}\n")
        return OK
    if args.verb == "deliveries":
        found = await client.deliveries(args.webhook_id, limit=args.limit)
        if _json(args):
            output.emit_json(found)
        else:
            output.deliveries_table(found)
        return OK
    queued = await client.test_webhook(args.webhook_id)
    ended = await _answered(client, queued, args.timeout)
    if _json(args):
        output.emit_json(ended)
    else:
        output.deliveries_table([ended])
        if ended.status != "delivered":
            why = ended.last_error or (f"answered {ended.response_status}" if ended.response_status else "no answer")
            sys.stderr.write(f"redrunner: webhook {args.webhook_id}: test delivery not delivered yet ({why})\n")
    return OK if ended.status == "delivered" else NOT_SUCCESSFUL
