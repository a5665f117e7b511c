"""The Dockerfile: hadolint-clean, and the image it describes is the one deploy/ expects.

No Docker engine runs on these machines, so the image is never built here; these tests check the
Dockerfile's text, its build context, and (test_image_contract.py) the server it starts.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.deploy import dockerignore
from tests.deploy.conftest import REPO
from tests.deploy.dockerfile import Dockerfile
from tests.deploy.imagefiles import build_wheel, context_files, copy_sources, wheel_names

HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")


def hadolint(source: str) -> list[dict[str, object]]:
    """hadolint's findings for a Dockerfile given as text (read from stdin)."""
    proc = subprocess.run(
        [HADOLINT, "--no-color", "--format", "json", "-"],
        input=source,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.stdout.strip(), f"hadolint printed nothing (exit {proc.returncode}): {proc.stderr}"
    findings: list[dict[str, object]] = json.loads(proc.stdout)
    return findings


def test_hadolint_finds_nothing() -> None:
    findings = hadolint((REPO / "Dockerfile").read_text())
    assert findings == [], "\n".join(f"line {f['line']}: {f['code']} {f['message']}" for f in findings)


def test_hadolint_does_lint() -> None:
    # Guards the test above: an empty result must come from a linter that reports problems.
    codes = {f["code"] for f in hadolint("FROM python:latest\nRUN apt-get install gcc\n")}
    assert {"DL3007", "DL3008", "DL3015"} <= codes


def test_two_stages_on_one_slim_python_311_base(dockerfile: Dockerfile) -> None:
    build, runtime = dockerfile.stages
    assert build.base == runtime.base
    assert runtime.base.startswith("python:3.11-slim")
    venv_copies = [i.args for i in runtime.all("COPY") if f"--from={build.name}" in i.args]
    assert venv_copies == [f"--from={build.name} /opt/redrunner /opt/redrunner"]
    assert "/opt/redrunner/bin" in runtime.env["PATH"].split(":")
    installs = " ".join(i.args for i in build.all("RUN"))
    # The exact versions the suite passed with, as every other install takes them.
    assert "/opt/redrunner/bin/pip install --no-cache-dir -c constraints.txt ." in installs


def test_runtime_has_the_tools_playbooks_call(dockerfile: Dockerfile) -> None:
    packages = re.split(r"[\s;]+", " ".join(i.args for i in dockerfile.final.all("RUN") if "apt-get install" in i.args))
    assert {"tini", "postgresql-client"} <= set(packages)
    # --build-arg PGDG_CLIENT=17 takes a newer client from the PostgreSQL project's repository instead.
    assert any(i.args.startswith("PGDG_CLIENT=") for i in dockerfile.final.all("ARG"))


def test_command_is_redrunner_serve_under_tini(dockerfile: Dockerfile) -> None:
    final = dockerfile.final
    command = final.last("ENTRYPOINT").exec_form() + final.last("CMD").exec_form()
    assert command == ["/usr/bin/tini", "--", "redrunner", "serve", "--host", "0.0.0.0"]
    assert final.last("EXPOSE").args == final.env["REDRUNNER_PORT"] == "8787"


def test_runs_as_a_fixed_non_root_uid(dockerfile: Dockerfile) -> None:
    user, _, group = dockerfile.final.last("USER").args.partition(":")
    assert user.isdigit() and int(user) > 0, "Kubernetes runAsNonRoot needs a numeric USER"
    assert group.isdigit() and int(group) > 0


def test_bundled_components_are_the_data_dir(dockerfile: Dockerfile) -> None:
    final = dockerfile.final
    copies = [[*copy_sources(i), i.args.split()[-1]] for i in final.all("COPY") if copy_sources(i)]
    assert ["components/", final.env["REDRUNNER_DATA_DIR"] + "/"] in copies
    assert (REPO / "components" / "project").is_dir(), "the server refuses a data dir without project/"


def test_state_and_temp_paths_do_not_need_a_writable_root(dockerfile: Dockerfile) -> None:
    env = dockerfile.final.env
    state = env["REDRUNNER_STATE_DIR"]
    # Kubernetes mounts volumes on exactly these two trees (deploy/base/deployment.yaml).
    assert env["HOME"] == state
    assert env["REDRUNNER_DATABASE_URL"] == f"sqlite:///{state}/redrunner.db"
    for name in ("ANSIBLE_LOCAL_TEMP", "ANSIBLE_SSH_CONTROL_PATH_DIR"):
        assert env[name].startswith("/tmp/"), name


def test_healthcheck_probes_healthz_with_python(dockerfile: Dockerfile) -> None:
    healthcheck = dockerfile.final.last("HEALTHCHECK").args
    options, _, command = healthcheck.partition(" CMD ")
    argv = json.loads(command)
    assert argv[:2] == ["python", "-c"] and "/healthz" in argv[2]
    assert "--timeout=5s" in options.split()


def test_dockerignore_sends_only_what_the_build_copies(dockerfile: Dockerfile) -> None:
    rules = dockerignore.load(REPO / ".dockerignore")
    sources = [s.rstrip("/") for stage in dockerfile.stages for i in stage.all("COPY") for s in copy_sources(i)]
    assert sources, "no COPY from the build context"
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
        assert dockerignore.included(rules, source), f"COPY {source}: excluded by .dockerignore"
    for leaked in (
        ".git/config",
        ".venv/bin/python",
        "tests/conftest.py",
        "backend/__pycache__/x.pyc",
        "redrunner.db",
        ".state/redrunner.db",
        "deploy/base/deployment.yaml",
    ):
        assert not dockerignore.included(rules, leaked), f"{leaked} would be sent to the builder"
    top_levels = {f.split("/")[0] for f in context_files(rules)}
    assert top_levels <= set(sources), f"context holds files no COPY uses: {top_levels - set(sources)}"


@pytest.mark.slow
def test_build_stage_builds_the_package_from_the_context(dockerfile: Dockerfile, tmp_path: Path) -> None:
    wheel = build_wheel(dockerfile, tmp_path)
    names = wheel_names(wheel)
    with zipfile.ZipFile(wheel) as zf:
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = zf.read(entry_points).decode()
    assert "redrunner = backend.cli:main" in scripts
    assert "backend/cli.py" in names, "the console script's module is missing from the wheel"
