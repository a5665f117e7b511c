"""4. Live lag: an event's `created` to its arrival at a WebSocket follower; 10 followers, N-task run."""

from __future__ import annotations

from .follow import follow_run
from .results import Row, millis, percentile
from .workspace import Workspace

NAME = "lag"
GOAL_P99 = 0.100


def run(ws: Workspace, quick: bool) -> list[Row]:
    tasks = 20 if quick else 1000
    followers = 2 if quick else 10
    playbook = ws.debug_playbook(f"tasks-{tasks}.yml", tasks)
    ws.sleep_playbook("block.yml", 600)
    with ws.server() as srv:
        fs, op = follow_run(srv.api, srv.ws_api, playbook, followers, "bench-lag")
    lags = [lag for f in fs for lag in f.lags]
    p50, p99, worst = percentile(lags, 50), percentile(lags, 99), max(lags)
    notes = [
        f"{followers} followers x {op['event_count']} events = {len(lags)} arrivals, all live; "
        f"p50 {millis(p50)}, p99 {millis(p99)}, max {millis(worst)}"
    ]
    return [
        Row(
            "4",
            f"live lag p99, {followers} followers, {tasks} tasks",
            millis(p99),
            "-",
            millis(p99),
            f"< {millis(GOAL_P99)}",
            (p99 < GOAL_P99) if not quick else None,
            notes,
        )
    ]
