"""`redrunner console` / `python -m console`."""

from __future__ import annotations

import argparse
import os
import sys

from console.client import RedRunnerClient
from console.startup import startup_problem
from console.token import TokenFileError, resolve_token


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="redrunner console", description="The RedRunner operator console.")
    p.add_argument(
        "--url",
        default=os.environ.get("REDRUNNER_URL", "http://127.0.0.1:8787"),
        help="server URL (default: $REDRUNNER_URL or http://127.0.0.1:8787)",
    )
    p.add_argument(
        "--token-file",
        help="file holding the bearer token (default: $REDRUNNER_TOKEN_FILE, else the token in $REDRUNNER_TOKEN)",
    )
    # Kept for existing scripts; a token on the command line shows in `ps`, a file does not.
    p.add_argument("--token", help="bearer token (prefer --token-file)")
    p.add_argument("--tag", help="show only Jobs with this tag")
    p.add_argument("--job", type=int, help="open this Job's screen directly")
    return p


def console_token(args: argparse.Namespace) -> str | None:
    """--token, else what the client subcommands use: --token-file, $REDRUNNER_TOKEN_FILE, $REDRUNNER_TOKEN."""
    return str(args.token) if args.token else resolve_token(args.token_file)


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        token = console_token(args)
    except TokenFileError as exc:
        p.error(str(exc))
    problem = startup_problem(args.url, token)
    if problem is not None:
        print(f"redrunner console: {problem.message}", file=sys.stderr)
        return problem.exit_code
    from console.app import RedRunnerApp  # Textual loads only once the arguments and the server are good

    app = RedRunnerApp(RedRunnerClient(args.url, token), tag=args.tag, job_id=args.job)
    result = app.run()
    return int(result or 0)
