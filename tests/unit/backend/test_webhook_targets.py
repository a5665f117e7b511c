"""Which webhook targets are refused: link-local, unspecified, the server itself; allowed networks win."""

from __future__ import annotations

import ipaddress

import pytest

from backend.webhook_targets import TargetPolicy, TargetRefused, parse_networks, split_url

ON_LOOPBACK = TargetPolicy("127.0.0.1", 8787)
ON_EVERY_ADDRESS = TargetPolicy("0.0.0.0", 8787)


@pytest.mark.parametrize(
    ("policy", "url", "refused"),
    [
        (ON_LOOPBACK, "http://127.0.0.1:8787/api/v1/schedules/x/run", "own address"),
        (ON_LOOPBACK, "http://[::ffff:127.0.0.1]:8787/", "own address"),
        (ON_LOOPBACK, "http://127.0.0.1:8788/", None),  # another local service: allowed
        (ON_LOOPBACK, "http://127.0.0.2:8787/", None),  # not where this server listens
        (ON_LOOPBACK, "http://10.1.2.3:8787/", None),  # private: a receiver in the cluster
        (ON_EVERY_ADDRESS, "http://127.0.0.2:8787/", "own address"),
        (ON_EVERY_ADDRESS, "http://[::1]:8787/", "own address"),
        (ON_LOOPBACK, "http://169.254.169.254/", "link-local"),
        (ON_LOOPBACK, "https://[fe80::1]/", "link-local"),
        (ON_LOOPBACK, "http://0.0.0.0:8000/", "unspecified"),
        (ON_LOOPBACK, "http://[::]:8000/", "unspecified"),
        (TargetPolicy("127.0.0.1", 8787, parse_networks("169.254.169.254/32")), "http://169.254.169.254/", None),
        (TargetPolicy("127.0.0.1", 8787, parse_networks("127.0.0.0/8, fe80::/10")), "http://127.0.0.1:8787/", None),
    ],
)
def test_refused_targets(policy: TargetPolicy, url: str, refused: str | None) -> None:
    if refused is None:
        assert policy.vet(split_url(url))
    else:
        with pytest.raises(TargetRefused, match=refused):
            policy.vet(split_url(url))


@pytest.mark.parametrize(
    "url",
    [
        "http://%zz/",
        "http://user:pass@example.com/",
        "http://@example.com/",
        "http://a..b/",
        "http://-a.com/",
        "http://[fe80::1%25eth0]/",
        "ftp://example.com/",
        "http://example.com:99999/",
        "http://" + "a" * 64 + ".com/",
    ],
)
def test_invalid_urls(url: str) -> None:
    with pytest.raises(ValueError):
        split_url(url)


@pytest.mark.parametrize(
    "url", ["http://example.com/x?y=1", "https://hooks.internal_svc.cluster.local:8443/", "http://bücher.example/"]
)
def test_valid_urls(url: str) -> None:
    assert split_url(url).hostname


def test_allowed_networks_parse() -> None:
    assert parse_networks(" 10.0.0.0/8,fe80::/10 ,,169.254.169.254") == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("fe80::/10"),
        ipaddress.ip_network("169.254.169.254/32"),
    )
    with pytest.raises(ValueError):
        parse_networks("not-a-network")
