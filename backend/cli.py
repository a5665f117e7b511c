"""`redrunner serve`, `redrunner console`, the client subcommands, `redrunner --version`.

Only `serve` is handled here; the console and the client subcommands live in the `console`
package and are imported only when asked for, so neither drags the other's imports along.
"""

from __future__ import annotations

import argparse
import sys

from . import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="redrunner", description="Run Ansible playbooks through an HTTP API.")
    parser.add_argument("--version", action="version", version=f"redrunner {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from .config import add_serve_arguments

    serve = sub.add_parser("serve", help="run the API server", description="Run the RedRunner API server.")
    add_serve_arguments(serve)
    sub.add_parser("console", help="open the operator console (Textual)", add_help=False)
    # Listed here; console.commandline parses their arguments.
    from console.commandline.arguments import COMMANDS

    for command in COMMANDS:
        sub.add_parser(command.name, help=command.help, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["console"]:
        from console.cli import main as console_main

        return console_main(argv[1:])
    from console.commandline.arguments import COMMAND_NAMES

    if argv[:1] and argv[0] in COMMAND_NAMES:
        from console.commandline import main as client_main

        return client_main(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "serve":
        parser.print_help()
        return 2
    from .app import serve
    from .config import settings_from_args
    from .errors import StartupError
    from .logs import setup_logging

    try:
        settings = settings_from_args(args)
        setup_logging(settings.log_format, settings.log_level)
        return serve(settings)
    except StartupError as exc:
        # One line naming the setting and the cause, like argparse's own errors (and its exit status 2).
        print(f"redrunner: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
