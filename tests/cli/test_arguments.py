"""Pure argument handling of the client subcommands: defaults from the environment, -e merging."""

from __future__ import annotations

from pathlib import Path

from console.commandline.arguments import default_url, merged_extravars, parse


def test_default_url_is_the_environment_then_the_local_server() -> None:
    assert default_url({}) == "http://127.0.0.1:8787"
    assert default_url({"REDRUNNER_PORT": "9000"}) == "http://127.0.0.1:9000"
    # Kubernetes service links would put tcp://... here; it is not a port, so it is ignored.
    assert default_url({"REDRUNNER_PORT": "tcp://10.0.0.1:8787"}) == "http://127.0.0.1:8787"
    assert default_url({"REDRUNNER_URL": "https://rr.example", "REDRUNNER_PORT": "9000"}) == "https://rr.example"


def test_extravars_merge_in_order_from_json_and_files(tmp_path: Path) -> None:
    vars_file = tmp_path / "vars.json"
    vars_file.write_text('{"a": 1, "b": {"deep": true}}')
    args = parse(["start", "1", "db", "backup", "-e", f"@{vars_file}", "-e", '{"a": 2}'])
    assert merged_extravars(args) == {"a": 2, "b": {"deep": True}}
    assert merged_extravars(parse(["start", "1", "db", "backup"])) == {}


def test_units_and_seconds_are_parsed() -> None:
    args = parse(["each", "backup", "--tag", "t", "--units", "db, web,", "--timeout", "1.5", "--check"])
    assert (args.units, args.timeout, args.check, args.follow) == (["db", "web"], 1.5, True, False)
    assert parse(["wait", "3", "4", "--timeout", "10"]).operation_ids == [3, 4]


def test_redrunner_help_lists_every_client_subcommand() -> None:
    from backend.cli import build_parser
    from console.commandline.arguments import COMMANDS

    listed = " ".join(build_parser().format_help().split())  # argparse wraps long lines
    assert all(command.name in listed and command.help in listed for command in COMMANDS)


def test_every_client_subcommand_has_its_coroutine() -> None:
    import inspect

    from console.commandline.arguments import COMMANDS, runner

    for command in COMMANDS:
        assert inspect.iscoroutinefunction(runner(command.name)), command.name


def test_schedule_model_reads_the_served_fields() -> None:
    from console.models import Schedule

    wire = {
        "name": "nightly",
        "cron": "0 3 * * *",
        "description": "at 03:00",
        "units": ["db"],
        "enabled": False,
        "last_job_id": 7,
        "last_job_status": "failed",
        "extra": 1,
    }
    schedule = Schedule.from_wire(wire)
    assert (schedule.timezone, schedule.enabled, schedule.last_job_status) == ("UTC", False, "failed")
    assert schedule.raw == wire
