"""`redrunner jobs|job|each|start|logs|wait|cancel|rerun|backups|restore|schedules|schedule|operations|operation|
webhooks|webhook`: the command-line front end.

It shares `console.client` with the Textual console (one client, two front ends) and imports no
Textual, so it starts fast and runs where no terminal UI could (CronJobs, CI, `kubectl exec`).
Exit statuses: 0 every Operation it started or waited for ended `successful`; 1 one did not;
2 usage and API errors (the API's message on stderr); 3 the server cannot be reached.
"""

from __future__ import annotations

import asyncio
import sys

USAGE_ERROR, UNREACHABLE = 2, 3


def in_cli_words(error: str, message: str) -> str:
    """The API's message, with the request field it names spelled as this command line's flag."""
    if error == "unit_busy":
        return message.replace("pass queue=true", "pass --queue")
    if error == "backup_unusable":
        return message.replace('give "partial": true', "pass --partial")
    return message


def main(argv: list[str]) -> int:
    from backend.terminal_text import plain
    from console.client import ApiError, RedRunnerClient, Unavailable
    from console.commandline.arguments import parse, runner
    from console.startup import url_problem
    from console.token import TokenFileError, resolve_token

    args = parse(argv)
    problem = url_problem(args.url)
    if problem is not None:
        # Not a server URL at all (ftp://, no host): the caller's mistake, not an unreachable server.
        sys.stderr.write(f"redrunner: {problem.message}\n")
        return USAGE_ERROR
    try:
        token = resolve_token(args.token_file)
    except TokenFileError as exc:
        sys.stderr.write(f"redrunner: {exc}\n")
        return USAGE_ERROR

    async def run() -> int:
        client = RedRunnerClient(args.url, token)
        try:
            return await runner(args.command)(client, args)
        finally:
            await client.aclose()

    try:
        return asyncio.run(run())
    except ApiError as exc:
        where = f" ({exc.field})" if exc.field else ""
        # The message comes from whatever answered at the URL: one line of text on the terminal.
        message = plain(f"{in_cli_words(exc.error, exc.message)}{where}").replace("\n", " ")
        sys.stderr.write(f"redrunner: {message} [{exc.status} {exc.error}]\n")
        return USAGE_ERROR
    except Unavailable as exc:
        sys.stderr.write(f"redrunner: cannot reach the server: {exc}\n")
        return UNREACHABLE
    except KeyboardInterrupt:
        return 130
