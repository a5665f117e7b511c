"""Where a webhook may point (api.md "Safety, third pass": Webhook targets).

A webhook is a request the server makes on a caller's behalf, so a caller must not aim it at the server
itself (a `job.finished` webhook on a schedule's `/run` re-fires the schedule for ever), at link-local
addresses (cloud metadata services) or at an unspecified address (which reaches this host). Other loopback
and private addresses stay allowed: receivers inside the cluster are the common case. The check runs when
a webhook is created and again on every attempt, on the very addresses the attempt connects to, so a name
that resolves elsewhere later (DNS rebinding) gains nothing.

A refusal names the address and the rule, never anything learnt by connecting: the target is never
contacted, so a caller cannot tell an open port from a closed one there.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

import psutil

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
UNSPECIFIED = (ipaddress.ip_address("0.0.0.0"), ipaddress.ip_address("::"))
# A DNS name: dot-separated labels of letters, digits, '-' and '_' (seen in internal names), 63 at most each.
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


class TargetRefused(Exception):
    """A target this server will not send to; the message says which address and why."""


def parse_networks(text: str) -> tuple[Network, ...]:
    """`--webhook-allowed-networks`: comma-separated CIDRs (a bare address is its own /32 or /128)."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


def _address(text: str) -> Address | None:
    try:
        found = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    # ::ffff:169.254.169.254 reaches the IPv4 address: judge it as that.
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def valid_host(host: str) -> bool:
    """An IP address or a DNS name (IDNA allowed): not `%zz`, not empty labels, not over 253 characters."""
    if _address(host) is not None:
        return "%" not in host  # no IPv6 zone ids: they name this host's interfaces
    try:
        ascii_name = host.encode("idna").decode("ascii").lower()
    except (UnicodeError, ValueError):
        return False
    labels = ascii_name.rstrip(".").split(".")
    return 0 < len(ascii_name) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


def split_url(url: str) -> SplitResult:
    """The URL's parts, or ValueError saying what is wrong with it (before any name is resolved)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("url must be an http or https address with a host")
    if "@" in parts.netloc:
        raise ValueError("url must not carry credentials (user:password@): use the webhook's secret")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise ValueError("url has an invalid port") from exc
    if not valid_host(parts.hostname):
        raise ValueError("url's host is not a valid name or address")
    return parts


def default_port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True)
class TargetPolicy:
    """The server's own listen address and port, and the networks an admin allowed anyway."""

    listen_host: str = ""
    listen_port: int | None = None
    allowed: tuple[Network, ...] = ()

    def _is_self(self, address: Address, port: int) -> bool:
        if self.listen_port is None or port != self.listen_port:
            return False
        host = self.listen_host.strip("[]")
        own = _address(host) if host else ipaddress.ip_address("0.0.0.0")
        if own is None:  # a name: what it resolves to
            return address in set(resolve(host, port))
        if own.is_unspecified:  # every address of this host
            return address.is_loopback or address.is_unspecified or address in local_addresses()
        return address == own or (address.is_unspecified and own.version == address.version)

    def refusal(self, address: Address, port: int) -> str | None:
        """Why `address`:`port` is refused, or None."""
        if any(address in net for net in self.allowed if net.version == address.version):
            return None
        if address in UNSPECIFIED or address.is_unspecified:
            return f"{address} is an unspecified address"
        if any(address in net for net in LINK_LOCAL if net.version == address.version):
            return f"{address} is a link-local address"
        if self._is_self(address, port):
            return f"{address} port {port} is this server's own address"
        return None

    def check(self, host: str, port: int, addresses: Iterable[Address]) -> None:
        for address in addresses:
            why = self.refusal(address, port)
            if why is not None:
                named = "" if _address(host) is not None else f"{host} resolves to "
                raise TargetRefused(f"refused target: {named}{why} (--webhook-allowed-networks can allow a network)")

    def vet(self, parts: SplitResult) -> list[Address]:
        """The addresses to connect to for `parts`, all allowed; TargetRefused, or OSError if the name does
        not resolve."""
        host = parts.hostname or ""
        port = default_port(parts)
        addresses = resolve(host, port)
        self.check(host, port, addresses)
        return addresses


def resolve(host: str, port: int) -> list[Address]:
    literal = _address(host)
    if literal is not None:
        return [literal]
    found: list[Address] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = _address(str(sockaddr[0]))
        if address is not None and address not in found:
            found.append(address)
    return found


def local_addresses() -> set[Address]:
    """This host's interface addresses (an unspecified listen address reaches the server on each)."""
    found: set[Address] = set()
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            if entry.family in (socket.AF_INET, socket.AF_INET6):
                address = _address(entry.address)
                if address is not None:
                    found.add(address)
    return found
