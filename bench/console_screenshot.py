"""Save docs/console-job.svg: the Job screen during a real run (`python -m bench.console_screenshot`).

A docs tool rather than a benchmark; it lives here because, like the benchmarks, it drives a real server
with the tests' harness and is run by hand.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from console.app import RedRunnerApp
from console.client import RedRunnerClient
from console.screens.job import JobScreen
from tests.support.server import start_server

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "console" / "data"
OUT = REPO / "docs" / "console-job.svg"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        srv = start_server(Path(tmp), data_dir=DATA)
        try:
            job = srv.post("jobs", {"tag": "backup", "units": ["db", "web", "queue", "search"]}).json()
            base = f"jobs/{job['id']}/units"
            srv.wait_terminal(srv.post(f"{base}/db", {"action": "backup-db.yml"}).json()["id"])
            srv.wait_terminal(srv.post(f"{base}/search", {"action": "restore-db.yml"}).json()["id"])
            srv.post(f"{base}/db", {"action": "backup-db.yml", "extravars": {"dump_seconds": 20}})
            srv.post(f"{base}/web", {"action": "backup-web.yml", "extravars": {"archive_seconds": 20}})
            srv.post(f"{base}/queue", {"action": "chatty-db.yml", "extravars": {"count": 400}})
            app = RedRunnerApp(RedRunnerClient(srv.url), job_id=int(job["id"]))

            async def shoot(pilot: object) -> None:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    await app.animator.wait_until_complete()
                    screen = app.screen
                    if isinstance(screen, JobScreen) and screen.units and screen.previous.get("backup-db.yml"):
                        break
                    import asyncio

                    await asyncio.sleep(0.2)
                import asyncio

                await asyncio.sleep(3.5)
                app.save_screenshot(str(OUT.name), str(OUT.parent))
                app.exit()

            app.run(headless=True, size=(120, 30), auto_pilot=shoot)
        finally:
            srv.stop()
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
