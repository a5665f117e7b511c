"""7. Followers and memory: many WebSocket followers on one process each get every event; idle RSS."""

from __future__ import annotations

import time

from .follow import follow_run
from .results import Row
from .workspace import ProcessSampler, Workspace

NAME = "followers"
GOAL_IDLE_MB = 80.0
MB = 2**20


def run(ws: Workspace, quick: bool) -> list[Row]:
    tasks = 5 if quick else 200
    followers = 5 if quick else 500
    playbook = ws.debug_playbook(f"tasks-{tasks}.yml", tasks)
    ws.sleep_playbook("block.yml", 600)
    with ws.server() as srv:
        time.sleep(1.0)  # let start-up garbage settle before calling it idle
        sampler = ProcessSampler(srv.proc.pid)
        idle = sampler.rss() / MB
        state: dict[str, float] = {}

        def started() -> None:
            state["connected_rss"] = sampler.rss() / MB
            sampler.__enter__()

        _, op = follow_run(srv.api, srv.ws_api, playbook, followers, "bench-followers", on_started=started)
        sampler.__exit__()
    frames = followers * op["event_count"]
    cpu = sampler.cpu_seconds
    notes = [
        f"{followers} followers x {op['event_count']} events = {frames} frames, every follower got every "
        f"event in order and `end`; server process CPU {cpu:.2f} s over {sampler.wall_seconds:.2f} s "
        f"({cpu / max(frames, 1) * 1e6:.0f} us per frame); RSS {state['connected_rss']:.0f} MB with all "
        f"connected, peak {sampler.peak_rss / MB:.0f} MB"
    ]
    return [
        Row(
            "7",
            f"{followers} followers of a {tasks}-task run",
            f"{cpu:.2f} s CPU",
            "-",
            f"peak RSS {sampler.peak_rss / MB:.0f} MB",
            "every event to each",
            True,
            notes,
        ),
        Row(
            "7",
            "idle server RSS",
            f"{idle:.1f} MB",
            "-",
            f"{idle:.1f} MB",
            f"< {GOAL_IDLE_MB:.0f} MB",
            idle < GOAL_IDLE_MB,
            [],
        ),
    ]
