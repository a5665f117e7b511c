"""The server started the way the image and the single overlay start it, minus the container.

The environment is the Dockerfile's ENV, then the overlay's ConfigMap, then the container's plain
env, with the image's paths moved under a temporary directory and the port made free. If the
server ignored or refused one of those settings, or the image's HEALTHCHECK did not work, these
tests fail; nothing but the path prefixes and the port differ from the pod.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from backend.statuses import TERMINAL
from tests.deploy.conftest import REPO
from tests.deploy.dockerfile import Dockerfile
from tests.support.manifests import SQLITE, one, server_container, settings
from tests.support.server import free_port, wait_until

TOKEN = "deploy-contract-token"


@dataclass
class PodLikeServer:
    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['REDRUNNER_PORT']}"


def pod_environment(dockerfile: Dockerfile, objects: list[dict[str, Any]], tmp: Path) -> dict[str, str]:
    image_env = dict(dockerfile.final.env)
    image_env.pop("PATH")  # "/opt/redrunner/bin:$PATH": here the venv's bin dir plays that part
    env = {**image_env, **settings(objects)}
    env.update({e["name"]: e["value"] for e in server_container(objects).get("env", []) if "value" in e})
    moves = {
        "/var/lib/redrunner": str(tmp / "state"),
        env["REDRUNNER_DATA_DIR"]: str(REPO / "components"),
        "/run/secrets/redrunner": str(tmp / "secrets"),
        "/tmp/": str(tmp / "tmp") + "/",
    }
    for name, value in env.items():
        # One move per value: the temporary directory may itself live under /tmp/.
        old = next((o for o in moves if o in value), None)
        env[name] = value.replace(old, moves[old]) if old else value
    env["REDRUNNER_PORT"] = str(free_port())
    base = {k: v for k, v in os.environ.items() if not k.startswith(("REDRUNNER_", "ANSIBLE_"))}
    base["PATH"] = f"{Path(sys.executable).parent}:{base.get('PATH', '')}"
    # The image has the package installed; here the checkout stands in for it.
    base["PYTHONPATH"] = str(REPO)
    return {**base, **env}


@pytest.fixture
def pod_server(
    dockerfile: Dockerfile, rendered: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> Iterator[PodLikeServer]:
    env = pod_environment(dockerfile, rendered[SQLITE], tmp_path)
    for directory in ("state", "secrets", "tmp"):
        (tmp_path / directory).mkdir()
    Path(env["REDRUNNER_TOKEN_FILE"]).write_text(TOKEN + "\n")
    entrypoint = dockerfile.final.last("ENTRYPOINT").exec_form()
    command = entrypoint[entrypoint.index("redrunner") + 1 :] + dockerfile.final.last("CMD").exec_form()
    # The image listens on 0.0.0.0; tests stay on loopback.
    command[command.index("--host") + 1] = "127.0.0.1"
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "backend", *command], cwd=env["HOME"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    server = PodLikeServer(proc, env, log)
    try:
        yield server
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def healthcheck(dockerfile: Dockerfile, env: dict[str, str]) -> int:
    """Run the image's HEALTHCHECK command as Docker would, with the container's environment."""
    argv = json.loads(dockerfile.final.last("HEALTHCHECK").args.partition(" CMD ")[2])
    argv[0] = sys.executable if argv[0] == "python" else argv[0]
    return subprocess.run(argv, env=env, capture_output=True, timeout=10, check=False).returncode


def wait_started(server: PodLikeServer, dockerfile: Dockerfile) -> None:
    """Until the image's HEALTHCHECK passes; a server that exits or hangs fails with its log."""
    try:
        wait_until(
            lambda: server.proc.poll() is not None or healthcheck(dockerfile, server.env) == 0,
            timeout=60,
            what="the image's HEALTHCHECK to pass",
        )
    except AssertionError as err:
        raise AssertionError(f"{err}\n{server.log.read_text(errors='replace')}") from None
    assert server.proc.poll() is None, f"the server exited:\n{server.log.read_text(errors='replace')}"


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.mark.slow
def test_server_takes_its_whole_configuration_from_the_pod_environment(
    pod_server: PodLikeServer, dockerfile: Dockerfile, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    wait_started(pod_server, dockerfile)
    assert get(pod_server.url + "/readyz")[0] == 200
    status, metrics = get(pod_server.url + "/metrics")
    assert status == 200 and b"# TYPE" in metrics
    # REDRUNNER_TOKEN_FILE: the token from the Secret's file guards the API.
    assert get(pod_server.url + "/api/v1/jobs")[0] == 401
    assert get(pod_server.url + "/api/v1/jobs", TOKEN)[0] == 200
    # REDRUNNER_DATABASE_URL from the overlay's ConfigMap: the SQLite file is on the state claim.
    database = Path(pod_server.env["REDRUNNER_DATABASE_URL"].removeprefix("sqlite:///"))
    assert database.is_file()
    assert database.is_relative_to(pod_server.env["REDRUNNER_STATE_DIR"])
    # REDRUNNER_LOG_FORMAT=json: log collectors get one JSON object per line.
    assert settings(rendered[SQLITE])["REDRUNNER_LOG_FORMAT"] == "json"
    lines = [line for line in pod_server.log.read_text().splitlines() if line.strip()]
    assert lines and all(isinstance(json.loads(line), dict) for line in lines)


@pytest.mark.slow
def test_sigterm_ends_the_server_inside_the_pod_grace_period(
    pod_server: PodLikeServer, dockerfile: Dockerfile, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    wait_started(pod_server, dockerfile)
    deployment = one(rendered[SQLITE], "Deployment")
    deadline = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    started = time.monotonic()
    pod_server.proc.send_signal(signal.SIGTERM)
    assert pod_server.proc.wait(deadline) == 0
    assert time.monotonic() - started < deadline
    assert healthcheck(dockerfile, pod_server.env) != 0, "the HEALTHCHECK passes with no server"


def call(url: str, method: str, body: Any = None) -> tuple[int, Any]:
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=70) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.slow
def test_a_bundled_component_runs_with_only_the_volumes_writable(
    pod_server: PodLikeServer, dockerfile: Dockerfile, tmp_path: Path
) -> None:
    """Ansible's home and temp files land where the pod has volumes, not in the read-only data dir."""
    wait_started(pod_server, dockerfile)
    data_dir = Path(pod_server.env["REDRUNNER_DATA_DIR"])
    before = sorted(str(p) for p in data_dir.rglob("*"))
    files = tmp_path / "app-files"
    files.mkdir()
    (files / "upload.txt").write_text("kept\n")
    backups = tmp_path / "backups"

    api = pod_server.url + "/api/v1"
    status, job = call(api + "/jobs", "POST", {"tag": "backup", "units": ["files"]})
    assert status == 201, job
    status, operation = call(
        f"{api}/jobs/{job['id']}/units/files",
        "POST",
        {
            "action": "backup-files.yml",
            "extravars": {"files_path": str(files), "backup_root": str(backups)},
        },
    )
    assert status == 202, operation
    deadline = time.monotonic() + 60
    while operation["status"] not in TERMINAL:
        assert time.monotonic() < deadline, operation
        _, operation = call(f"{api}/operations/{operation['id']}?wait=30", "GET")
    assert operation["status"] == "successful", call(f"{api}/operations/{operation['id']}/events", "GET")[1]

    assert list(backups.rglob("files.tar.*")), "the backup archive was not written"  # .zst, or .gz without zstd
    assert sorted(str(p) for p in data_dir.rglob("*")) == before, "something was written into the data dir"
    temp = Path(pod_server.env["ANSIBLE_LOCAL_TEMP"])
    assert temp.is_dir(), "Ansible did not use ANSIBLE_LOCAL_TEMP"


def in_pod(server: PodLikeServer, *args: str) -> subprocess.CompletedProcess[str]:
    """`kubectl exec deploy/redrunner -- redrunner ARGS`: the pod's environment, no flags added."""
    return subprocess.run(
        [sys.executable, "-m", "backend", *args],
        cwd=server.env["HOME"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.slow
def test_the_guides_backup_and_restore_run_in_the_pod_with_its_token_file(
    pod_server: PodLikeServer, dockerfile: Dockerfile, tmp_path: Path
) -> None:
    """deploy/README.md steps 4 and 6: `redrunner each` finds the server and the token by itself."""
    wait_started(pod_server, dockerfile)
    assert "REDRUNNER_URL" not in pod_server.env and "REDRUNNER_TOKEN" not in pod_server.env
    files = tmp_path / "app" / "files"
    files.mkdir(parents=True)
    (files / "upload.txt").write_text("kept\n")
    paths = json.dumps({"files_path": str(files), "backup_root": str(tmp_path / "backups")})

    backup = in_pod(pod_server, "each", "backup", "--tag", "backup", "--units", "files", "-e", paths, "--follow")
    assert backup.returncode == 0, backup.stdout + backup.stderr
    assert "[files] PLAY [Back up the files component]" in backup.stdout
    listed = in_pod(pod_server, "jobs", "--tag", "backup", "-o", "json")
    (job,) = json.loads(listed.stdout)

    (files / "upload.txt").write_text("overwritten\n")
    (files / "new.txt").write_text("added after the backup\n")
    # A restore reads the sealed backup its backup Operation published (deploy/README.md step 6).
    shown = json.loads(in_pod(pod_server, "job", str(job["id"]), "-o", "json").stdout)
    (unit,) = shown["units"]
    backup_path = unit["latest_operation"]["artifacts"]["redrunner_backup"]["path"]
    restore_vars = json.dumps({**json.loads(paths), "backup_path": backup_path})
    restore = in_pod(pod_server, "start", str(job["id"]), "files", "restore", "-e", restore_vars, "--follow")
    assert restore.returncode == 0, restore.stdout + restore.stderr
    assert sorted(p.name for p in files.iterdir()) == ["upload.txt"]
    assert (files / "upload.txt").read_text() == "kept\n"
    ops = [o["action"] for o in call(f"{pod_server.url}/api/v1/operations?job_id={job['id']}", "GET")[1]["items"]]
    assert sorted(ops) == ["backup-files.yml", "restore-files.yml"]
