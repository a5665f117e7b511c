"""`redrunner audit`: the audit trail (api.md "Access and audit"), for an admin token."""

from __future__ import annotations

import argparse

from console.client import RedRunnerClient
from console.commandline import output
from console.commandline.subcommands import OK, show


async def audit(client: RedRunnerClient, args: argparse.Namespace) -> int:
    found = await client.list_audit(actor=args.actor, limit=args.limit)
    show(args, found, output.audit_table)
    return OK
