"""Probe for issue 28: what would a preloaded fork server ("zygote") for ansible-playbook save?

Every `ansible-playbook` spends ~0.2 s of CPU importing the same modules before it reads its first
line of YAML. A zygote imports, once, only what does not depend on the run (never Ansible's
configuration: ansible.constants, ansible.config, ansible.plugins.loader read the environment and
ansible.cfg at import), then forks one child per run; the child takes the run's fds, session, cwd,
environment and argv and runs the `ansible-playbook` script in-process, so it reads its configuration
as a fresh process would.

    python -m bench.preload_probe [--rounds 10]     # interleaved CPU: fresh vs forked, outputs compared
    python -m bench.preload_probe --check-only      # which modules are safe, and the fork-safety checks

CPU is what the kernel counts for each run's process tree (os.wait4 of the run: its own time plus its
reaped workers'); the zygote's own CPU per run (the fork, the wait) is added to the forked side.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.abc
import importlib.machinery
import json
import os
import re
import resource
import runpy
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BINDIR = Path(sys.executable).parent
SCRIPT = BINDIR / "ansible-playbook"
# Read the run's configuration (environment, ansible.cfg, cwd) when imported: never in the zygote.
FORBIDDEN = ("ansible.constants", "ansible.config", "ansible.plugins.loader")
# Never preloaded by name: the plugin loader imports these under names of its own choosing, the CLI
# package runs its locale and blocking-IO checks at import (per run), and this program is not Ansible's.
SKIP = ("__main__", "ansible_collections", "ansible.plugins", "ansible.cli", "bench", "_distutils_hack")
INVENTORY = 'localhost ansible_connection=local ansible_python_interpreter="{{ ansible_playbook_python }}"\n'
DUMP_ENV = "PRELOAD_PROBE_DUMP"


def _under(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def forbidden_loaded() -> list[str]:
    return sorted(m for m in sys.modules if _under(m, FORBIDDEN))


# --- which modules a run loads, and which of them are safe --------------------------------------------


def loaded_by_run(cmd: list[str], cwd: Path, env: dict[str, str], dump: Path) -> list[str]:
    """sys.modules (in import order) at the end of a real ansible-playbook run of `cmd`."""
    code = (
        "import atexit, json, os, runpy, sys\n"
        f"atexit.register(lambda: open(os.environ[{DUMP_ENV!r}], 'w').write(json.dumps(list(sys.modules))))\n"
        "sys.argv = sys.argv[1:]\n"
        "sys.path[0] = os.path.dirname(sys.argv[0])\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, *cmd],
        cwd=cwd,
        env={**env, DUMP_ENV: str(dump)},
        stdout=subprocess.DEVNULL,
        check=True,
    )
    names: list[str] = json.loads(dump.read_text())
    return names


class _Block(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if _under(fullname, FORBIDDEN):
            raise ImportError(f"{fullname} reads the run's configuration")
        return None


def select(candidates: list[str]) -> dict[str, Any]:
    """Import each candidate in order with the configuration modules blocked: those that import cleanly
    (and everything they pulled in) are safe; the rest need the configuration, directly or not."""
    sys.meta_path.insert(0, _Block())
    refused: dict[str, str] = {}
    for name in candidates:
        if name in sys.modules or _under(name, SKIP):
            continue
        try:
            importlib.import_module(name)
        except BaseException as exc:
            refused[name] = f"{type(exc).__name__}: {exc}"[:160]
    safe = [m for m in sys.modules if m in set(candidates) and not _under(m, SKIP)]
    return {"safe": safe, "refused": refused}


def preload(names: list[str]) -> list[str]:
    """Import `names` in order; returns those that cannot be imported by name (submodules an extension
    module registers in sys.modules itself, like cryptography's `_openssl`: loaded with their parent)."""
    unnamed = []
    for name in names:
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            unnamed.append(name)
    return unnamed


def trace(names: list[str]) -> dict[str, Any]:
    """Preload `names` while recording every environment variable read and every non-code file opened."""
    env_reads: set[str] = set()
    opened: set[str] = set()
    environ_cls: Any = type(os.environ)
    getitem = environ_cls.__getitem__
    contains = environ_cls.__contains__
    iterate = environ_cls.__iter__

    def _getitem(self: Any, key: str) -> Any:
        env_reads.add(str(key))
        return getitem(self, key)

    def _contains(self: Any, key: object) -> bool:
        env_reads.add(str(key))
        return bool(contains(self, key))

    def _iter(self: Any) -> Any:
        env_reads.add("<all of it>")
        return iterate(self)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open" and isinstance(args[0], (str, bytes)):
            path = os.fsdecode(args[0])
            if not path.endswith((".py", ".pyc", ".so")) and not os.path.isdir(path):
                opened.add(path)

    environ_cls.__getitem__, environ_cls.__contains__, environ_cls.__iter__ = _getitem, _contains, _iter
    sys.addaudithook(hook)
    unnamed = preload(names)
    environ_cls.__getitem__, environ_cls.__contains__, environ_cls.__iter__ = getitem, contains, iterate
    return {
        "modules": len(sys.modules),
        "unnamed": unnamed,
        "forbidden_loaded": forbidden_loaded(),
        "env_reads": sorted(env_reads),
        "files_opened": sorted(opened),
        "threads": threading.active_count(),
        "tasks": len(os.listdir("/proc/self/task")),
    }


# --- the zygote -----------------------------------------------------------------------------------------


def _read_line(buf: bytearray) -> bytes | None:
    """One request line from fd 0, read with os.read: sys.stdin must hold no read-ahead when we fork."""
    while b"\n" not in buf:
        chunk = os.read(0, 65536)
        if not chunk:
            return None
        buf += chunk
    line, _, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    return line


def _reply(obj: dict[str, Any]) -> None:
    # Flushed before the next fork: a child must not inherit buffered output of the zygote.
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def serve(names: list[str], freeze: bool) -> dict[str, Any] | None:
    """The zygote's loop; returns only in a forked child, with that child's request."""
    preload(names)
    if freeze:
        import gc

        # Preloaded objects to the permanent generation: a child's collections neither scan them nor
        # dirty their pages (copy-on-write).
        gc.collect()
        gc.freeze()
    bad = forbidden_loaded()
    if bad:
        raise SystemExit(f"preloading loaded the configuration: {bad}")
    _reply({"ready": True, "modules": len(sys.modules), "forbidden_loaded": bad})
    buf = bytearray()
    while True:
        line = _read_line(buf)
        if line is None:
            return None
        req = json.loads(line)
        if req.get("warm_rand"):
            # Instantiate OpenSSL's DRBG here, so the check below would catch a child inheriting its state.
            from cryptography.hazmat.primitives.asymmetric import ec

            ec.generate_private_key(ec.SECP256R1())
        threads, tasks = threading.active_count(), len(os.listdir("/proc/self/task"))
        before = resource.getrusage(resource.RUSAGE_SELF)
        pid = os.fork()
        if pid == 0:
            return guard(req) if req.get("guard") else dict(req)
        if req.get("guard"):
            _reply({"guard_pid": pid})
        _, wstatus, usage = os.wait4(pid, 0)
        after = resource.getrusage(resource.RUSAGE_SELF)
        _reply(
            {
                "rc": os.waitstatus_to_exitcode(wstatus),
                "cpu": usage.ru_utime + usage.ru_stime,
                "zygote_cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
                "threads_at_fork": threads,
                "tasks_at_fork": tasks,
            }
        )


def take_fds(req: dict[str, Any]) -> None:
    out = os.open(req["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.closerange(3, 1 << 16)


def guard(req: dict[str, Any]) -> dict[str, Any]:
    """In the zygote's child G: today's run guard (backend/run_guard.py), its parent-death signal tied to
    the zygote, which forks the playbook P in-process instead of exec'ing it. Returns only in P."""
    from backend import run_guard

    zygote = os.getppid()
    os.setsid()
    take_fds(req)
    if not run_guard.die_with_parent(zygote):
        os._exit(128 + run_guard.PARENT_GONE)
    run_guard.become_subreaper()
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if MARKER in req["env"]:
        # The guard carries the marker today (it is exec'd with the run's environment); P inherits it.
        rewrite_marker(req["env"][MARKER])
    child = os.fork()
    if child == 0:
        signal.signal(run_guard.PARENT_GONE, signal.SIG_DFL)
        return dict(req)
    status = 0
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: os.kill(child, signum))
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {run_guard.PARENT_GONE})
        while True:
            try:
                pid, wstatus = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            if pid == child:
                status = os.waitstatus_to_exitcode(wstatus)
                break
    except run_guard.ParentGone:
        status = -run_guard.PARENT_GONE
    finally:
        run_guard.kill_leftovers()
    os._exit(status if status >= 0 else 128 - status)


def enter_run(req: dict[str, Any]) -> None:
    """In the forked child: become the run's process as exec would have made it."""
    if not req.get("guard"):
        # Below a guard, the guard has the session and the fds, as with today's exec.
        os.setsid()
        take_fds(req)
        if MARKER in req["env"]:
            rewrite_marker(req["env"][MARKER])
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    sys.argv = list(req["argv"])
    sys.path[0] = os.path.dirname(sys.argv[0])


MARKER = "REDRUNNER_RUN_ID"
# The zygote's own environment ends with this placeholder: /proc/<pid>/environ shows a process's initial
# environment block (not os.environ), so a forked run can carry its marker there only by overwriting it.
MARKER_SLOT = MARKER + "=" + "_" * 64


def rewrite_marker(value: str) -> bool:
    """Put `value` into the placeholder of this process's initial environment block, in place (the
    kernel reads /proc/<pid>/environ from that memory), NUL-padded: it is the block's last entry."""
    import ctypes

    with open("/proc/self/stat", "rb") as f:
        stat = f.read()
    fields = stat[stat.rfind(b")") + 2 :].split()
    # env_start and env_end are fields 50 and 51 of /proc/<pid>/stat; `fields` starts at field 3.
    env_start, env_end = int(fields[47]), int(fields[48])
    block = ctypes.string_at(env_start, env_end - env_start)
    at = block.find(MARKER_SLOT.encode())
    new = f"{MARKER}={value}".encode()
    if at < 0 or len(new) > len(MARKER_SLOT):
        return False
    ctypes.memmove(env_start + at, new.ljust(len(MARKER_SLOT), b"\0"), len(MARKER_SLOT))
    return True


def child_check() -> None:
    """What the fork-safety check prints from a child: different values in every child, or trouble."""
    import random

    import psutil
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    worker = os.fork()
    if worker == 0:
        os._exit(0 if psutil.Process().environ().get(MARKER) == os.environ.get(MARKER) else 1)
    _, wstatus = os.waitpid(worker, 0)
    seen = psutil.Process().environ()
    print(
        json.dumps(
            {
                "random": random.random(),
                "openssl_key": hashlib.sha256(str(key).encode()).hexdigest()[:16],
                "str_hash": hash("redrunner"),
                "pid": os.getpid(),
                "proc_environ_marker": seen.get(MARKER),
                "proc_environ_keeps_other_vars": "PATH" in seen,
                "forked_worker_sees_marker": os.waitstatus_to_exitcode(wstatus) == 0,
                "expected_marker": os.environ.get(MARKER),
            }
        )
    )


def zygote_main(modules_file: str, freeze: bool) -> int:
    req = serve(json.loads(Path(modules_file).read_text()), freeze)
    if req is None:
        return 0
    enter_run(req)
    if req.get("check"):
        child_check()
        return 0
    # Exactly what the `ansible-playbook` script does, run as __main__; its SystemExit ends this process
    # through the interpreter's normal exit (atexit handlers, thread joins, flushes), as a fresh one would.
    runpy.run_path(sys.argv[0], run_name="__main__")
    return 0


# --- the benchmark --------------------------------------------------------------------------------------


def run_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDRUNNER_")}
    env["PATH"] = str(BINDIR) + os.pathsep + env.get("PATH", "/usr/bin:/bin")
    return env


def write_playbooks(root: Path) -> dict[str, list[str]]:
    (root / "inventory").mkdir(parents=True)
    (root / "project").mkdir()
    (root / "inventory" / "hosts").write_text(INVENTORY)
    shapes = {
        "debug1": ['name: step 0\n      debug: {msg: "step 0"}'],
        "command5": [f'name: cmd {i}\n      command: "true"' for i in range(5)],
        "debug300": [f'name: step {i}\n      debug: {{msg: "step {i}"}}' for i in range(300)],
    }
    cmds = {}
    for name, tasks in shapes.items():
        lines = ["- hosts: all", "  gather_facts: false", "  tasks:", *(f"    - {t}" for t in tasks)]
        (root / "project" / f"{name}.yml").write_text("\n".join(lines) + "\n")
        cmds[name] = [str(SCRIPT), "-i", str(root / "inventory" / "hosts"), str(root / "project" / f"{name}.yml")]
    return cmds


def fresh(cmd: list[str], cwd: Path, env: dict[str, str], out: Path) -> dict[str, Any]:
    with open(out, "wb") as f:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT, start_new_session=True
        )
    _, wstatus, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(wstatus)
    return {"rc": proc.returncode, "cpu": usage.ru_utime + usage.ru_stime}


class Zygote:
    def __init__(self, modules_file: Path, env: dict[str, str], cwd: Path, freeze: bool) -> None:
        zenv = {k: v for k, v in env.items() if k != MARKER}
        zenv["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
        zenv[MARKER] = MARKER_SLOT.partition("=")[2]  # last: see rewrite_marker
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.preload_probe",
                "--zygote",
                str(modules_file),
                *(["--freeze"] if freeze else []),
            ],
            env=zenv,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.ready = self._answer()

    def _answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the zygote died")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(self, req: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(req) + "\n").encode())
        self.proc.stdin.flush()
        return self._answer()

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def _normalized(text: str) -> str:
    # The default callback prints no times; only a warning could hold a path or pid.
    return re.sub(r"pid \d+", "pid N", text)


def module_sets(root: Path, cmds: dict[str, list[str]], env: dict[str, str]) -> dict[str, Any]:
    loaded: list[str] = []
    for name, cmd in cmds.items():
        for m in loaded_by_run(cmd, root, env, root / f"mods-{name}.json"):
            if m not in loaded:
                loaded.append(m)
    cand = root / "candidates.json"
    cand.write_text(json.dumps(loaded))
    chosen = json.loads(
        subprocess.run(
            [sys.executable, "-m", "bench.preload_probe", "--select", str(cand)],
            env=env,
            cwd=Path(__file__).resolve().parent.parent,
            stdout=subprocess.PIPE,
            check=True,
        ).stdout
    )
    (root / "safe.json").write_text(json.dumps(chosen["safe"]))
    traced = json.loads(
        subprocess.run(
            [sys.executable, "-m", "bench.preload_probe", "--trace", str(root / "safe.json")],
            env=env,
            cwd=Path(__file__).resolve().parent.parent,
            stdout=subprocess.PIPE,
            check=True,
        ).stdout
    )
    return {"loaded": loaded, "safe": chosen["safe"], "refused": chosen["refused"], "trace": traced}


def fork_checks(zyg: Zygote, root: Path, env: dict[str, str]) -> dict[str, Any]:
    outs = []
    meta = []
    for i in range(3):
        out = root / f"check{i}.out"
        run_env = {**env, MARKER: f"op{1000 + i}-{os.urandom(4).hex()}"}
        req = {"check": True, "warm_rand": i == 0, "argv": [str(SCRIPT)], "env": run_env, "cwd": str(root)}
        meta.append(zyg.run({**req, "out": str(out)}))
        outs.append(json.loads(out.read_text()))
    return {
        "random_differs": len({o["random"] for o in outs}) == len(outs),
        "openssl_key_differs": len({o["openssl_key"] for o in outs}) == len(outs),
        "str_hash_shared": len({o["str_hash"] for o in outs}) == 1,
        "threads_at_fork": sorted({m["threads_at_fork"] for m in meta}),
        "tasks_at_fork": sorted({m["tasks_at_fork"] for m in meta}),
        "proc_environ_marker_is_the_runs": all(o["proc_environ_marker"] == o["expected_marker"] for o in outs),
        "proc_environ_keeps_other_vars": all(o["proc_environ_keeps_other_vars"] for o in outs),
        "forked_worker_sees_marker": all(o["forked_worker_sees_marker"] for o in outs),
    }


CHAIN_PLAYBOOK = """- hosts: all
  gather_facts: false
  tasks:
    - name: daemon
      shell: "setsid sleep 307 > /dev/null 2>&1 &"
    - name: wait
      command: sleep 300
"""


def _wait_for(what: str, ok: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            raise SystemExit(f"chain check: timed out waiting for {what}")
        time.sleep(0.05)


def chain_check(root: Path, env: dict[str, str]) -> dict[str, Any]:
    """Server death through one more link: SIGKILL the zygote (what the server's death does to it, by its
    parent-death signal) while a guarded run sleeps with a `setsid` daemon; everything must go."""
    import psutil

    (root / "project" / "chain.yml").write_text(CHAIN_PLAYBOOK)
    cmd = [str(SCRIPT), "-i", str(root / "inventory" / "hosts"), str(root / "project" / "chain.yml")]
    marker = f"op9999-{os.urandom(4).hex()}"
    out = root / "chain.out"
    zyg = Zygote(root / "safe.json", env, root, True)
    assert zyg.proc.stdin is not None
    req = {"guard": True, "argv": cmd, "env": {**env, MARKER: marker}, "cwd": str(root), "out": str(out)}
    zyg.proc.stdin.write((json.dumps(req) + "\n").encode())
    zyg.proc.stdin.flush()
    guard_pid = zyg._answer()["guard_pid"]

    def tree() -> list[psutil.Process]:
        try:
            return [psutil.Process(guard_pid), *psutil.Process(guard_pid).children(recursive=True)]
        except psutil.Error:
            return []

    def cmdlines() -> list[list[str]]:
        found = []
        for p in tree():
            try:
                found.append(p.cmdline())
            except psutil.Error:
                continue
        return found

    _wait_for("the daemon and the sleep", lambda: {"307", "300"} <= {c[-1] for c in cmdlines() if c})
    before = tree()
    marked = [p for p in psutil.process_iter() if _marked(p, marker)]
    # ansible-playbook itself (forked, not exec'd: its /proc environ is the rewritten block) and its workers.
    marked_pythons = sum(1 for p in marked if p.pid != guard_pid and _name(p).startswith("python"))
    os.kill(zyg.proc.pid, signal.SIGKILL)
    zyg.proc.wait()
    t0 = time.monotonic()

    def gone(p: psutil.Process) -> bool:
        try:
            return bool(p.status() == psutil.STATUS_ZOMBIE)
        except psutil.NoSuchProcess:
            return True

    _wait_for("the run to die", lambda: all(gone(p) for p in before + marked), timeout=30)
    left = [p.pid for p in psutil.process_iter() if _marked(p, marker)]
    return {
        "tree_before": len(before),
        "marked_before": len(marked),
        "marked_python_processes": marked_pythons,
        "all_dead_after_s": round(time.monotonic() - t0, 2),
        "marked_left": left,
    }


def _name(p: Any) -> str:
    try:
        return str(p.name())
    except Exception:
        return ""


def _marked(p: Any, marker: str) -> bool:
    try:
        return bool(p.environ().get(MARKER) == marker)
    except Exception:
        return False


def bench(rounds: int, check_only: bool, only: list[str] | None) -> int:
    root = Path(tempfile.mkdtemp(prefix="rr-preload-"))
    try:
        env = run_env()
        cmds = {k: v for k, v in write_playbooks(root).items() if not only or k in only}
        if not cmds:
            raise SystemExit(f"no playbook among {only}: debug1 command5 debug300")
        sets = module_sets(root, cmds, env)
        tr = sets["trace"]
        print(f"modules loaded by the runs: {len(sets['loaded'])}; safe to preload: {len(sets['safe'])}")
        print(f"refused (need the configuration): {len(sets['refused'])}")
        for name, why in list(sets["refused"].items())[:15]:
            print(f"  {name}: {why}")
        print(f"preloaded: {tr['modules']} modules in sys.modules, config modules loaded: {tr['forbidden_loaded']}")
        print(f"  env read while preloading: {tr['env_reads']}")
        print(f"  files opened while preloading: {tr['files_opened']}")
        print(f"  threads {tr['threads']}, kernel tasks {tr['tasks']}; not importable by name: {tr['unnamed']}")
        # "forked": the zygote as imported; "frozen": the same after gc.freeze().
        zygotes = {"forked": Zygote(root / "safe.json", env, root, False)}
        try:
            zygotes["frozen"] = Zygote(root / "safe.json", env, root, True)
            for side, zyg in zygotes.items():
                print(f"{side} zygote ready: {zyg.ready}; fork checks: {fork_checks(zyg, root, env)}")
            print(f"server death through the zygote: {chain_check(root, env)}")
            if check_only:
                return 0
            return _rounds(zygotes, root, cmds, env, rounds)
        finally:
            for zyg in zygotes.values():
                zyg.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _rounds(
    zygotes: dict[str, Zygote], root: Path, cmds: dict[str, list[str]], env: dict[str, str], rounds: int
) -> int:
    cpu: dict[tuple[str, str], list[float]] = {}
    mismatches = 0
    zygote_cpu: list[float] = []
    order = ["fresh", *zygotes]
    for r in range(rounds):
        for name, cmd in cmds.items():
            # Each side goes first in turn.
            sides = order[r % len(order) :] + order[: r % len(order)]
            texts = {}
            for side in sides:
                out = root / f"{name}-{side}.out"
                if side == "fresh":
                    res = fresh(cmd, root, env, out)
                else:
                    res = zygotes[side].run({"argv": cmd, "env": env, "cwd": str(root), "out": str(out)})
                    zygote_cpu.append(res["zygote_cpu"])
                    res["cpu"] += res["zygote_cpu"]
                if res["rc"] != 0:
                    raise SystemExit(f"{side} {name} exited {res['rc']}: {out.read_text()[-2000:]}")
                cpu.setdefault((name, side), []).append(res["cpu"])
                texts[side] = _normalized(out.read_text())
            for side in zygotes:
                if texts[side] != texts["fresh"]:
                    mismatches += 1
                    print(f"round {r} {name}: {side} output differs from fresh")
        print(f"round {r + 1}/{rounds} done, load {os.getloadavg()[0]:.2f}", flush=True)
    _table(cpu, cmds, zygotes, rounds)
    print(
        f"zygote's own CPU per run (fork + wait, included above): median {1000 * statistics.median(zygote_cpu):.1f} ms"
    )
    print("zygote RSS: " + ", ".join(f"{side} {zyg.rss_kib()} KiB" for side, zyg in zygotes.items()))
    compared = rounds * len(cmds) * len(zygotes)
    print(f"outputs identical to fresh in {compared - mismatches} of {compared} runs")
    return 1 if mismatches else 0


def _table(
    cpu: dict[tuple[str, str], list[float]], cmds: dict[str, list[str]], zygotes: dict[str, Zygote], rounds: int
) -> None:
    print(f"\n{'playbook':<10} {'side':<7} {'CPU s':>7} {'saved ms':>9} {'paired ms':>10}  (medians of {rounds})")
    for name in cmds:
        a = cpu[(name, "fresh")]
        print(f"{name:<10} {'fresh':<7} {statistics.median(a):7.3f}  range {min(a):.3f}-{max(a):.3f}")
        for side in zygotes:
            b = cpu[(name, side)]
            paired = sorted(1000 * (x - y) for x, y in zip(a, b, strict=True))
            saved = 1000 * (statistics.median(a) - statistics.median(b))
            print(
                f"{'':<10} {side:<7} {statistics.median(b):7.3f} {saved:9.0f}"
                f" {statistics.median(paired):10.0f}  range {min(b):.3f}-{max(b):.3f},"
                f" paired quartiles {paired[len(paired) // 4]:.0f}..{paired[(3 * len(paired)) // 4]:.0f}"
            )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--check-only", action="store_true")
    p.add_argument("--only", nargs="*", help="playbooks: debug1 command5 debug300")
    p.add_argument("--zygote", help=argparse.SUPPRESS)
    p.add_argument("--freeze", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--select", help=argparse.SUPPRESS)
    p.add_argument("--trace", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.zygote:
        return zygote_main(args.zygote, args.freeze)
    if args.select:
        print(json.dumps(select(json.loads(Path(args.select).read_text()))))
        return 0
    if args.trace:
        print(json.dumps(trace(json.loads(Path(args.trace).read_text()))))
        return 0
    t0 = time.monotonic()
    rc = bench(args.rounds, args.check_only, args.only)
    print(f"took {time.monotonic() - t0:.0f} s")
    return rc


if __name__ == "__main__":
    sys.exit(main())
