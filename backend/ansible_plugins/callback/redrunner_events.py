"""RedRunner's stdout callback: ansible-runner's awx_display events, each handed over as one JSON line.

awx_display builds every event (and, by wrapping Display, turns text printed outside callbacks into events
too); then, per event, it writes the event to a `job_events/<uuid>-partial.json` file and marks where the
event's output begins and ends in stdout with base64 escapes, which ansible-runner reads back through a pty
and a regex. That hand-over is most of what the callback costs. This plugin keeps all of awx_display except
it: what is written to stdout/stderr between awx_display's `dump_begin` and `dump_end` is captured, and the
event goes out on stdout as `MARK + JSON + newline`, which the server reads from a pipe
(backend/event_stream.py). Text written outside any event reaches the pipe as it is.

Run by ansible-playbook, not by the server: it imports Ansible, which the server must never do (importing
awx_display patches Display for the whole process).
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
from typing import Any

from ansible.plugins.loader import callback_loader

DOCUMENTATION = """
    name: redrunner_events
    short_description: ansible-runner's awx_display events as JSON lines on stdout, for RedRunner
    description:
        - awx_display's events and display wrapping; each event goes to stdout as one line instead of
          a file plus base64 markers.
    type: stdout
    options: {}
    requirements:
      - Set as stdout in config
"""
# No options of its own, so no documentation fragment to parse at every start: awx_display's set_options
# gives the plugin its base callback's options (the default callback's, which include that fragment's).

# Must equal backend.event_stream.MARK and NONCE_FILE (a test checks). Control characters JSON always
# escapes, so the mark can never appear inside an event's JSON; raw writes to the process's stdout could
# forge it, but not the run's nonce that follows it, read here from a file the server wrote, and deleted.
MARK = "\x1e\x1fredrunner-event "
NONCE_FILE = "REDRUNNER_EVENT_NONCE_FILE"
# Must equal backend.pipe_transport.FORCED_COLOR (a test checks).
FORCED_COLOR = "REDRUNNER_TTY_COLOR"

# Loaded through Ansible's loader (from ansible-runner's callback folder, which the server puts on the
# callback path), so it is imported once, under the name Ansible gives it, as with runner's own transport.
_AwxCallbackModule: Any = callback_loader.get("awx_display", class_only=True)
awx = sys.modules[_AwxCallbackModule.__module__]


class _Capture:
    """Stands in for sys.stdout and sys.stderr while an event is open: what is written then is its stdout.

    On a pty both streams reach ansible-runner as one, so both are captured into the same list."""

    def __init__(self, real: Any, parts: list[str]) -> None:
        self._real = real
        self._parts = parts

    def write(self, text: str) -> int:
        if not text.isascii():
            # What the real stream would have put on the wire: Ansible's error handler replaces what the
            # encoding cannot take (and warns, which lands in this event, as it would on the pty).
            text = text.encode(self._real.encoding, self._real.errors).decode("utf-8", "replace")
        self._parts.append(text)
        return len(text)

    def flush(self) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class _EventLines:
    """Replaces awx_display's dump_begin/dump_end (both are called with Display's lock held)."""

    def __init__(self) -> None:
        self._head: str | None = None  # the open event's JSON, without its stdout
        self._parts: list[str] = []
        self._stdout: Any = None
        self._stderr: Any = None

    def begin(self, fileobj: Any) -> None:
        begin = _begin_dict()
        # Serialized now, as awx_display writes its file now: the callback about to run may change the
        # result it was given (the default callback pops warnings and deprecations from it).
        head = _encode(begin)
        if self._head is not None:
            # An event opened inside another: runner's filter ends the outer one here.
            self._send()
        else:
            self._stdout, self._stderr = sys.stdout, sys.stderr
            sys.stdout = _Capture(self._stdout, self._parts)
            sys.stderr = _Capture(self._stderr, self._parts)
        self._head = head

    def end(self, fileobj: Any) -> None:
        if self._head is None:
            return
        self._send()
        self._head = None
        sys.stdout, sys.stderr = self._stdout, self._stderr

    def _send(self) -> None:
        assert self._head is not None
        # What the pty (`\n` -> `\r\n`) and runner's filter (trailing line ends cut) make of the text.
        text = "".join(self._parts).replace("\n", "\r\n").rstrip("\r\n")
        self._parts.clear()
        line = f'{_EVENT_MARK}{self._head[:-1]}, "stdout": {json.dumps(text)}}}\n'
        self._stdout.write(line)
        self._stdout.flush()


def _lean_begin_dict() -> Any:
    """awx_display's EventContext.get_begin_dict, with the environment read once instead of six times per
    event (the run's environment does not change under it); the same dict, key for key and in the same
    order. Where a variable would make it raise, awx_display's own is kept, to raise per event as it does."""
    original = awx.event_context.get_begin_dict
    try:
        omit_event_data = os.getenv("RUNNER_OMIT_EVENTS", "False").lower() == "true"
        only_failed = os.getenv("RUNNER_ONLY_FAILED_EVENTS", "False").lower() == "true"
        ids = {key: int(os.getenv(name, "0")) for key, name in _ID_VARIABLES if os.getenv(name, "")}
        max_res = int(os.getenv("MAX_EVENT_RES", "700000"))
    except ValueError:
        return original
    ctx = awx.event_context
    new_uuid = awx.uuid.uuid4
    current_time = awx.current_time
    getpid = os.getpid
    failed_events = ("runner_on_failed", "runner_on_async_failed", "runner_on_item_failed")
    marks = ("debug", "verbose", "deprecated", "warning", "system_warning", "error")

    def get_begin_dict() -> dict[str, Any]:
        event_data = ctx.get()
        event = event_data.pop("event", None)
        if not event:
            event = "verbose"
            for key in marks:
                if event_data.get(key, False):
                    event = key
                    break
        event_dict: dict[str, Any] = {"event": event}
        should_process_event_data = not only_failed or event in failed_events
        event_dict.update(ids)
        event_dict["pid"] = event_data.get("pid", getpid())
        event_dict["uuid"] = event_data.get("uuid", str(new_uuid()))
        event_dict["created"] = event_data.get("created", current_time().isoformat())
        if not event_data.get("parent_uuid", None):
            for key in ("task_uuid", "play_uuid", "playbook_uuid"):
                parent_uuid = event_data.get(key, None)
                if parent_uuid and parent_uuid != event_data.get("uuid", None):
                    event_dict["parent_uuid"] = parent_uuid
                    break
        else:
            event_dict["parent_uuid"] = event_data.get("parent_uuid", None)
        if "verbosity" in event_data:
            event_dict["verbosity"] = event_data.pop("verbosity")
        if not omit_event_data and should_process_event_data:
            if event not in ("playbook_on_stats",) and "res" in event_data and len(str(event_data["res"])) > max_res:
                event_data["res"] = {}
        else:
            event_data = {}
        event_dict["event_data"] = event_data
        return event_dict

    return get_begin_dict


# awx_display's get_begin_dict adds these, in this order, where set.
_ID_VARIABLES = (
    ("job_id", "JOB_ID"),
    ("ad_hoc_command_id", "AD_HOC_COMMAND_ID"),
    ("project_update_id", "PROJECT_UPDATE_ID"),
)


def argument(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, defaults: dict[str, Any]) -> Any:
    """One argument of a call, by keyword, position or default: what Signature.bind would find."""
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index else defaults[name]


def _unless_debugging(wrapper: Any) -> Any:
    """Display.debug does nothing unless debugging (Ansible's own check, inside it), so then there is
    nothing to mark: ~30 calls a task skip the marking."""
    from ansible import constants

    @functools.wraps(wrapper)
    def debug_wrapper(*args: Any, **kwargs: Any) -> Any:
        if not constants.DEFAULT_DEBUG:
            return None
        return wrapper(*args, **kwargs)

    return debug_wrapper


def _lean_wrappers() -> None:
    """awx_display wraps Display's methods to mark what they print (warning, deprecated, ... and the
    verbosity of `verbose`) and to make an event of whatever `display` prints outside one. Its wrappers
    bind every call's arguments with inspect (Signature.bind) and enter a generator context manager,
    thousands of times per playbook (Display.debug alone, a no-op unless debugging, is called ~30 times a
    task). These do the same, in the same order, with plain code."""
    from ansible.utils.display import Display

    ctx = awx.event_context
    local = ctx._local

    def local_ctx() -> dict[str, Any]:
        ctx: dict[str, Any] = vars(local).setdefault("_ctx", {})
        return ctx

    def marked(f: Any, key: str) -> Any:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            local_ctx()[key] = True
            try:
                return f(*args, **kwargs)
            finally:
                local._ctx.pop(key, None)

        return wrapper if key != "debug" else _unless_debugging(wrapper)

    for attr in dir(Display):
        # The very methods awx_display wrapped (its own loop), rewrapped around the originals.
        if attr.startswith("_") or "cow" in attr or "prompt" in attr:
            continue
        if attr in ("display", "v", "vv", "vvv", "vvvv", "vvvvv", "vvvvvv", "verbose"):
            continue
        method = getattr(Display, attr)
        if callable(method) and hasattr(method, "__wrapped__"):
            setattr(Display, attr, marked(method.__wrapped__, attr))

    verbose = Display.verbose.__wrapped__
    v_params = list(inspect.signature(verbose).parameters)
    v_host, v_caplevel = v_params.index("host"), v_params.index("caplevel")
    v_defaults = {k: p.default for k, p in inspect.signature(verbose).parameters.items()}

    @functools.wraps(verbose)
    def verbose_wrapper(*args: Any, **kwargs: Any) -> Any:
        host = argument(args, kwargs, v_host, "host", v_defaults)
        caplevel = argument(args, kwargs, v_caplevel, "caplevel", v_defaults)
        context: dict[str, Any] = {"verbose": True, "verbosity": caplevel + 1}
        if host is not None:
            context["remote_addr"] = host
        local_ctx().update(context)
        try:
            return verbose(*args, **kwargs)
        finally:
            for key in context:
                local._ctx.pop(key, None)

    Display.verbose = verbose_wrapper

    display = Display.display.__wrapped__
    d_params = list(inspect.signature(display).parameters)
    d_stderr, d_log_only = d_params.index("stderr"), d_params.index("log_only")
    d_defaults = {k: p.default for k, p in inspect.signature(display).parameters.items()}
    parent_process = awx.multiprocessing_context.parent_process
    lock = ctx.display_lock
    new_uuid = awx.uuid.uuid4

    @functools.wraps(display)
    def display_wrapper(*args: Any, **kwargs: Any) -> Any:
        if parent_process() is not None:
            # In a fork Display proxies to the parent: no event here (as awx_display).
            return display(*args, **kwargs)
        log_only = argument(args, kwargs, d_log_only, "log_only", d_defaults)
        stderr = argument(args, kwargs, d_stderr, "stderr", d_defaults)
        mine = getattr(local, "_ctx", {})
        event_uuid = mine["uuid"] if "uuid" in mine else ctx._global_ctx.get("uuid")
        with lock:
            if log_only or event_uuid:
                return display(*args, **kwargs)
            fileobj = sys.stderr if stderr else sys.stdout
            try:
                local_ctx()["uuid"] = str(new_uuid())
                ctx.dump_begin(fileobj)
                return display(*args, **kwargs)
            finally:
                ctx.dump_end(fileobj)
                local._ctx.pop("uuid", None)

    Display.display = display_wrapper


def _tty_colors() -> None:
    """The server forces colors on the pipe where a terminal would have had them (backend/pipe_transport.py).
    Take that out of the environment the tasks inherit, and honour a `nocolor` from an ansible.cfg, which a
    terminal would have, and which ANSIBLE_FORCE_COLOR overrides."""
    if not os.environ.pop(FORCED_COLOR, None):
        return
    os.environ.pop("ANSIBLE_FORCE_COLOR", None)
    from ansible import constants
    from ansible.utils import color

    if constants.ANSIBLE_NOCOLOR:
        color.ANSIBLE_COLOR = False


def _event_mark() -> str:
    """MARK and the run's nonce, which no task may learn: the file is gone, and so is its name from the
    environment they inherit, before the first task runs."""
    path = os.environ.pop(NONCE_FILE, None)
    if not path:
        return MARK
    try:
        with open(path, encoding="ascii") as f:
            nonce = f.read().strip()
        os.unlink(path)
    except OSError:
        # The server then reads every event as text: visible, where a wrong guess would not be.
        return MARK
    return f"{MARK}{nonce} " if nonce else MARK


_EVENT_MARK = _event_mark()
_begin_dict = _lean_begin_dict()
# One encoder for every event: json.dumps(cls=...) builds a new one per call.
_encode = awx.AnsibleJSONEncoderLocal().encode
_tty_colors()
_lean_wrappers()
_lines = _EventLines()
awx.event_context.dump_begin = _lines.begin
awx.event_context.dump_end = _lines.end
# A terminal makes stdout line-buffered; keep that on the pipe, so plain text and events keep their order.
sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]


class CallbackModule(_AwxCallbackModule):
    CALLBACK_NAME = "redrunner_events"
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
