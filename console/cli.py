"""`redrunner console` / `python -m console`."""

from __future__ import annotations

import argparse
import os
import sys

from console.client import RedRunnerClient
from console.startup import startup_problem


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="redrunner console", description="The RedRunner operator console.")
    p.add_argument(
        "--url",
        default=os.environ.get("REDRUNNER_URL", "http://127.0.0.1:8787"),
        help="server URL (default: $REDRUNNER_URL or http://127.0.0.1:8787)",
    )
    p.add_argument(
        "--token", default=os.environ.get("REDRUNNER_TOKEN"), help="bearer token (default: $REDRUNNER_TOKEN)"
    )
    p.add_argument("--tag", help="show only Jobs with this tag")
    p.add_argument("--job", type=int, help="open this Job's screen directly")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    problem = startup_problem(args.url, args.token)
    if problem is not None:
        print(f"redrunner console: {problem.message}", file=sys.stderr)
        return problem.exit_code
    from console.app import RedRunnerApp  # Textual loads only once the arguments and the server are good

    app = RedRunnerApp(RedRunnerClient(args.url, args.token), tag=args.tag, job_id=args.job)
    result = app.run()
    return int(result or 0)
