"""`redrunner jobs|job|each|start|logs|wait|cancel|rerun|backups|restore|schedules|schedule`: the command line.

It shares `console.client` with the Textual console (one client, two front ends) and imports no
Textual, so it starts fast and runs where no terminal UI could (CronJobs, CI, `kubectl exec`).
Exit statuses: 0 every Operation it started or waited for ended `successful`; 1 one did not;
2 usage and API errors (the API's message on stderr); 3 the server cannot be reached.
"""

from __future__ import annotations

import asyncio
import sys

USAGE_ERROR, UNREACHABLE = 2, 3

COMMANDS = frozenset(
    {"jobs", "job", "each", "start", "logs", "wait", "cancel", "rerun", "backups", "restore", "schedules", "schedule"}
)


def main(argv: list[str]) -> int:
    from console.client import ApiError, RedRunnerClient, Unavailable
    from console.commandline.arguments import parse
    from console.commandline.subcommands import SUBCOMMANDS
    from console.token import TokenFileError, resolve_token

    args = parse(argv)
    try:
        token = resolve_token(args.token_file)
    except TokenFileError as exc:
        sys.stderr.write(f"redrunner: {exc}\n")
        return USAGE_ERROR

    async def run() -> int:
        client = RedRunnerClient(args.url, token)
        try:
            return await SUBCOMMANDS[args.command](client, args)
        finally:
            await client.aclose()

    try:
        return asyncio.run(run())
    except ApiError as exc:
        where = f" ({exc.field})" if exc.field else ""
        sys.stderr.write(f"redrunner: {exc.message}{where} [{exc.status} {exc.error}]\n")
        return USAGE_ERROR
    except Unavailable as exc:
        sys.stderr.write(f"redrunner: cannot reach the server: {exc}\n")
        return UNREACHABLE
    except KeyboardInterrupt:
        return 130
