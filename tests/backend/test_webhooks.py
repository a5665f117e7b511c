"""Webhooks: signed deliveries to a real local receiver, retries, and the outbox surviving a kill -9."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from tests.support.inprocess import InProcessServer
from tests.support.server import RunningServer, ServerClient, free_port, wait_until

from .helpers import make_job, start
from .webhook_receiver import Receiver, Trickler

SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver(free_port()).start()
    yield rec
    rec.stop()


def register(srv: ServerClient, url: str, **fields: Any) -> dict[str, Any]:
    resp = srv.post("webhooks", {"url": url, "secret": SECRET, **fields})
    assert resp.status == 201, resp.body
    return dict(resp.json())


def run_one(srv: ServerClient, tag: str = "backup") -> tuple[dict[str, Any], dict[str, Any]]:
    job = make_job(srv, tag=tag, units=["db"])
    op = start(srv, job["id"], "db", "hello", extravars={"hello_sleep": 0})
    return job, srv.wait_terminal(op["id"])


def deliveries(srv: ServerClient, hook_id: int) -> list[dict[str, Any]]:
    return list(srv.get(f"webhooks/{hook_id}/deliveries").json()["items"])


def test_job_and_operation_finished_arrive_signed_to_the_standard(
    app_server: InProcessServer, receiver: Receiver
) -> None:
    hook = register(app_server, receiver.url, events=["job.finished", "operation.finished"])
    assert hook["has_secret"] is True and "secret" not in hook
    assert SECRET not in json.dumps(app_server.get(f"webhooks/{hook['id']}").json())
    job, op = run_one(app_server)
    wait_until(lambda: receiver.of_type("job.finished"), timeout=30, what="job.finished at the receiver")
    wait_until(lambda: receiver.of_type("operation.finished"), timeout=30, what="operation.finished")
    verifier = Webhook(SECRET)
    for got in receiver.received:
        payload = verifier.verify(got.body, got.headers)  # raises on a bad signature or stale timestamp
        assert got.headers["webhook-id"].isdigit()
        assert int(got.headers["webhook-timestamp"]) > 0
        assert payload["timestamp"].endswith("Z")
    [finished] = [json.loads(r.body) for r in receiver.of_type("job.finished")]
    assert (finished["data"]["id"], finished["data"]["status"]) == (job["id"], "successful")
    [op_finished] = [json.loads(r.body) for r in receiver.of_type("operation.finished")]
    assert (op_finished["data"]["id"], op_finished["data"]["status"]) == (op["id"], "successful")
    # A tampered body fails verification: the signature covers it.
    with pytest.raises(Exception, match=r"(?i)signature"):
        verifier.verify(receiver.received[0].body + b" ", receiver.received[0].headers)
    rows = wait_until(
        lambda: (
            [d for d in deliveries(app_server, hook["id"]) if d["status"] == "delivered"][1:]
            and (deliveries(app_server, hook["id"]))
        ),
        timeout=10,
        what="both deliveries recorded as delivered",
    )
    assert {d["event"] for d in rows} == {"job.finished", "operation.finished"}
    assert all(d["attempts"] == 1 and d["response_status"] == 204 for d in rows)
    assert {str(d["id"]) for d in rows} == {r.headers["webhook-id"] for r in receiver.received}
    assert SECRET not in app_server.log() and SECRET[6:] not in app_server.log()


@pytest.mark.slow
def test_tags_and_events_filter_what_a_webhook_gets(server: RunningServer, receiver: Receiver) -> None:
    hook = register(server, receiver.url, tags=["restore"])
    run_one(server, tag="backup")
    run_one(server, tag="restore")
    wait_until(lambda: receiver.received, timeout=30, what="a delivery")
    wait_until(lambda: deliveries(server, hook["id"])[0]["status"] == "delivered", timeout=10)
    assert [json.loads(r.body)["data"]["tag"] for r in receiver.received] == ["restore"]
    assert len(deliveries(server, hook["id"])) == 1  # job.finished only, by default


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"url": "ftp://example.com/x"}, "invalid_url"),
        ({"url": "http:///nohost"}, "invalid_url"),
        ({"url": "http://example.com", "events": ["job.started"]}, "invalid_events"),
        ({"url": "http://example.com", "events": []}, "invalid_events"),
        ({"url": "http://example.com", "tags": ["bad tag"]}, "invalid_tag"),
        ({"url": "http://example.com", "secret": "plain"}, "invalid_secret"),
        ({"url": "http://example.com", "secret": "whsec_!!!"}, "invalid_secret"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, "invalid_url"),
        ({"url": "http://[fe80::1]:8080/"}, "invalid_url"),
        ({"url": "http://[::ffff:169.254.169.254]/"}, "invalid_url"),
        ({"url": "http://0.0.0.0:9/"}, "invalid_url"),
        ({"url": "http://[::]/"}, "invalid_url"),
        ({"url": "http://user:pass@example.com/"}, "invalid_url"),
        ({"url": "http://%zz/"}, "invalid_url"),
    ],
)
def test_bad_webhooks_are_refused(app_server: InProcessServer, body: dict[str, Any], error: str) -> None:
    resp = app_server.post("webhooks", body)
    assert (resp.status, resp.json()["error"]) == (400, error), resp.body
    assert app_server.get("webhooks").json()["items"] == []


def test_unknown_webhooks_are_404_and_delete_removes_one(app_server: InProcessServer) -> None:
    for path in ("webhooks/99", "webhooks/99/deliveries"):
        assert app_server.get(path).json()["error"] == "webhook_not_found"
    assert app_server.get("webhooks/x").json()["error"] == "invalid_parameter"
    hook = register(app_server, "http://127.0.0.1:9/x")
    assert app_server.delete(f"webhooks/{hook['id']}").status == 204
    assert app_server.get(f"webhooks/{hook['id']}").status == 404


@pytest.mark.slow
def test_a_receiver_down_then_up_gets_the_delivery_on_a_retry(server: RunningServer) -> None:
    port = free_port()
    hook = register(server, f"http://127.0.0.1:{port}/hook")
    run_one(server)
    failed = wait_until(
        lambda: [d for d in deliveries(server, hook["id"]) if d["attempts"] >= 1],
        timeout=30,
        what="a failed first attempt",
    )[0]
    assert failed["status"] == "pending" and failed["last_error"] and failed["next_attempt_at"]
    receiver = Receiver(port).start()
    try:
        wait_until(lambda: receiver.received, timeout=30, what="the retry at the receiver")
        done = wait_until(
            lambda: deliveries(server, hook["id"])[0]["status"] == "delivered" and deliveries(server, hook["id"])[0],
            timeout=10,
        )
        assert done["attempts"] >= 2 and done["delivered_at"]
        assert receiver.received[0].headers["webhook-id"] == str(failed["id"])
        Webhook(SECRET).verify(receiver.received[0].body, receiver.received[0].headers)
    finally:
        receiver.stop()


@pytest.mark.slow
def test_pending_deliveries_survive_a_kill_9_with_the_same_webhook_id(
    server_factory: Callable[..., RunningServer], receiver: Receiver
) -> None:
    srv = server_factory(name="first")
    receiver.answer = 500
    hook = register(srv, receiver.url)
    run_one(srv)
    wait_until(lambda: receiver.received, timeout=30, what="the first (refused) attempt")
    wait_until(lambda: deliveries(srv, hook["id"])[0]["attempts"] == 1, timeout=10)
    srv.kill()
    receiver.answer = 200
    again = server_factory(name="again", state_dir=srv.state_dir, database=srv.database)
    wait_until(lambda: len(receiver.received) >= 2, timeout=30, what="the attempt after the restart")
    first, second = receiver.received[0], receiver.received[-1]
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    Webhook(SECRET).verify(second.body, second.headers)
    done = wait_until(
        lambda: deliveries(again, hook["id"])[0]["status"] == "delivered" and deliveries(again, hook["id"]), timeout=10
    )
    assert len(done) == 1 and done[0]["attempts"] == 2 and done[0]["response_status"] == 200


@pytest.mark.slow
def test_a_receiver_that_never_answers_delays_no_run_and_no_request(server: RunningServer, receiver: Receiver) -> None:
    receiver.hold = threading.Event()
    hook = register(server, receiver.url)
    try:
        run_one(server)
        wait_until(lambda: receiver.received, timeout=30, what="the held request")
        # The sender is stuck on that request; runs and the API go on.
        job, op = run_one(server, tag="second")
        assert op["status"] == "successful"
        assert server.get(f"jobs/{job['id']}").json()["status"] == "successful"
        assert not receiver.hold.is_set() and len(receiver.received) >= 1
        pending = deliveries(server, hook["id"])
        assert len(pending) == 2 and all(d["status"] == "pending" for d in pending)
    finally:
        receiver.hold.set()
    wait_until(
        lambda: all(d["status"] == "delivered" for d in deliveries(server, hook["id"])),
        timeout=60,
        what="both delivered once the receiver answers",
    )


def test_a_test_delivery_goes_through_the_outbox_signed(server: RunningServer, receiver: Receiver) -> None:
    hook = register(server, receiver.url, events=["operation.finished"])  # test deliveries ignore the events
    resp = server.post(f"webhooks/{hook['id']}/test", {})
    assert resp.status == 202, resp.body
    queued = resp.json()
    assert (queued["event"], queued["webhook_id"], queued["status"]) == ("webhook.test", hook["id"], "pending")
    got = wait_until(lambda: receiver.of_type("webhook.test"), timeout=10, what="the test delivery")[0]
    payload = Webhook(SECRET).verify(got.body, got.headers)
    assert payload["data"] == {"webhook_id": hook["id"]}
    assert got.headers["webhook-id"] == str(queued["id"])
    wait_until(
        lambda: deliveries(server, hook["id"])[0]["status"] == "delivered", timeout=10, what="recorded as delivered"
    )
    assert server.post("webhooks/999999/test", {}).status == 404


LOOP = {"name": "loop", "cron": "0 2 * * *", "tag": "loop", "units": ["db"], "action": "hello"}


@pytest.mark.slow
def test_a_webhook_at_the_server_itself_is_refused_and_never_refires_a_schedule(server: RunningServer) -> None:
    assert server.post("schedules", {**LOOP, "extravars": {"hello_sleep": 0}}).status == 201
    own = [f"{server.url}/api/v1/schedules/loop/run", f"http://localhost:{server.port}/api/v1/schedules/loop/run"]
    for url in own:
        resp = server.post("webhooks", {"url": url})
        assert (resp.status, resp.json()["error"]) == (400, "invalid_url"), resp.body
        assert "own address" in resp.json()["message"]
    assert server.get("webhooks").json()["items"] == []
    # One stored before the check (or whose name resolves to the server only now) is skipped at sending.
    with sqlite3.connect(server.database.removeprefix("sqlite:///"), timeout=10) as db:
        db.execute("insert into webhook (url, events, created_at) values (?, ?, ?)", (own[0], '["job.finished"]', 0))
    [hook] = server.get("webhooks").json()["items"]
    assert server.post("schedules/loop/run").status == 201
    [failed] = wait_until(
        lambda: [d for d in deliveries(server, hook["id"]) if d["status"] == "failed"], timeout=30, what="failed"
    )
    assert failed["attempts"] == 1 and failed["response_status"] is None
    assert "this server's own address" in failed["last_error"]
    assert len([j for j in server.get("jobs").json()["items"] if j["schedule"] == "loop"]) == 1


@pytest.mark.slow
def test_trickling_receivers_are_cut_at_the_deadline_and_delay_no_other_webhook(
    server: RunningServer, receiver: Receiver
) -> None:
    tricklers = [Trickler(free_port()).start() for _ in range(5)]
    try:
        slow = [register(server, t.url) for t in tricklers]
        healthy = register(server, receiver.url)
        run_one(server)
        # Sooner than the tricklers' 10 s deadline: it never waited for a thread they held.
        wait_until(lambda: receiver.received, timeout=8, what="the healthy receiver's delivery")
        cut = wait_until(
            lambda: (
                all(deliveries(server, h["id"])[0]["attempts"] >= 1 for h in slow)
                and [deliveries(server, h["id"])[0] for h in slow]
            ),
            timeout=25,
            what="every trickling attempt cut",
        )
        assert all(d["status"] == "pending" and "timed out" in d["last_error"] for d in cut), cut
        assert deliveries(server, healthy["id"])[0]["status"] == "delivered"
    finally:
        for t in tricklers:
            t.stop()
