"""The examples beside the overlays point at what the server really serves: the monitoring objects
(Prometheus Operator kinds, which the strict validator does not know) select the server's pods and its
metrics port, the NetworkPolicy admits the server's port, and git-sync hands the server a data dir."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.deploy.conftest import DEPLOY
from tests.support.manifests import Obj, find, one, pod_spec, server_container

MONITORING = DEPLOY / "examples" / "monitoring"


def load(path: Path) -> Obj:
    obj: Obj = yaml.safe_load(path.read_text())
    return obj


def pod_labels(objects: list[Obj]) -> dict[str, str]:
    return dict(one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"])


def test_monitors_select_the_server_and_scrape_its_metrics(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["overlays/single"]
    ports = {p["name"] for p in server_container(objects)["ports"]}
    service_ports = {p["name"] for p in one(objects, "Service")["spec"]["ports"]}
    for name, endpoints_key, port_names in (
        ("podmonitor.yaml", "podMetricsEndpoints", ports),
        ("servicemonitor.yaml", "endpoints", service_ports),
    ):
        monitor = load(MONITORING / name)
        assert monitor["spec"]["selector"]["matchLabels"].items() <= pod_labels(objects).items(), name
        for endpoint in monitor["spec"][endpoints_key]:
            assert endpoint["port"] in port_names, name
            assert endpoint["path"] == "/metrics", name


def test_alerts_use_series_the_server_exports() -> None:
    text = (Path(__file__).resolve().parents[2] / "backend").glob("*.py")
    exported = " ".join(path.read_text() for path in text)
    rules = load(MONITORING / "alerts.yaml")["spec"]["groups"][0]["rules"]
    for rule in rules:
        series = [
            word for word in rule["expr"].replace("(", " ").replace(")", " ").split() if word.startswith("redrunner_")
        ]
        assert series, rule["alert"]
        for name in series:
            assert name in exported, f"{rule['alert']}: {name} is not a series the server defines"


def test_network_policy_admits_the_server_port(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["examples/network-policy"]
    (policy,) = find(objects, "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels(objects).items()
    ports = {p["name"] for p in server_container(objects)["ports"]}
    (rule,) = policy["spec"]["ingress"]
    assert {p["port"] for p in rule["ports"]} <= ports


def test_git_sync_hands_the_server_its_data_dir(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["examples/git-sync"]
    spec = pod_spec(objects)
    (sync,) = [c for c in spec.get("initContainers", []) if c["name"] == "git-sync"]
    assert sync["restartPolicy"] == "Always"  # a native sidecar: the first checkout precedes the server
    root = next(a.split("=", 1)[1] for a in sync["args"] if a.startswith("--root="))
    link = next(a.split("=", 1)[1] for a in sync["args"] if a.startswith("--link="))
    server = server_container(objects)
    data_dir = next(e["value"] for e in server["env"] if e["name"] == "REDRUNNER_DATA_DIR")
    assert data_dir.startswith(f"{root}/{link}/")
    (mount,) = [m for m in server["volumeMounts"] if m["mountPath"] == root]
    assert mount["readOnly"] is True
