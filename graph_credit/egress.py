"""Where the service may send webhooks, so that a subscription cannot turn the deliverer into a scanner
of the service's own network (SSRF).

A webhook URL must be ``https://`` (``http://`` only if the deployment allows it), carry no user name
or password, and its host must resolve only to public addresses: not loopback, private, link-local,
shared (100.64/10), reserved, documentation, multicast or unspecified, nor an IPv6 form embedding one
of those (IPv4-mapped, 6to4, Teredo, NAT64). A receiver on a private network is called only if its
address is in the deployment's allow-list; cloud metadata addresses never are. IP addresses must be
written plainly: ``2130706433`` or ``0x7f.1`` (which resolvers read as 127.0.0.1) are refused.

``resolve`` checks a URL and returns the address it checked. It runs at registration and again right
before every delivery (DNS can change in between), and the delivery connects to exactly the address
checked (``Target.address``), with the original host name for the ``Host`` header and TLS, so a
second lookup cannot send it elsewhere. Redirects are not followed.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import DomainError

__all__ = ["EgressPolicy", "Target", "resolve"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Instance metadata services (AWS, GCP, Azure, ECS, Alibaba Cloud, AWS IPv6): never a receiver.
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class EgressPolicy:
    """``allow_http``: plain http receivers accepted; ``allow``: networks where private receivers live."""

    allow_http: bool = False
    allow: tuple[Network, ...] = ()

    @classmethod
    def of(cls, allow_http: bool, allow: Iterable[str]) -> EgressPolicy:
        """From settings; a malformed network is a configuration error, raised at start-up."""
        return cls(allow_http, tuple(ipaddress.ip_network(n, strict=False) for n in allow))

    @classmethod
    def from_env(cls) -> EgressPolicy:
        """``GRAPH_CREDIT_WEBHOOK_ALLOW_HTTP=1`` accepts http receivers; ``GRAPH_CREDIT_WEBHOOK_ALLOW``
        lists the addresses or networks (CIDR, comma-separated) where private receivers may be."""
        allow = os.environ.get("GRAPH_CREDIT_WEBHOOK_ALLOW", "")
        return cls.of(os.environ.get("GRAPH_CREDIT_WEBHOOK_ALLOW_HTTP", "0") == "1",
                      [n.strip() for n in allow.split(",") if n.strip()])


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str  # as written in the URL (lower case), for the Host header and TLS
    port: int
    address: str  # the checked address the connection goes to


def _effective(address: Address) -> Address:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo client, NAT64), else itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def allowed(address: Address, policy: EgressPolicy) -> bool:
    a = _effective(address)
    if a in METADATA or address in METADATA:
        return False
    if any(a.version == n.version and a in n for n in policy.allow):
        return True
    site_local = isinstance(a, ipaddress.IPv6Address) and a.is_site_local
    return a.is_global and not (a.is_multicast or a.is_reserved or site_local)


def _refuse(reason: str) -> DomainError:
    return DomainError(reason, field="webhook_url")


def resolve(url: str, policy: EgressPolicy) -> Target:
    """Check ``url`` against ``policy`` and resolve its host; raise ``DomainError`` naming ``webhook_url``."""
    parts = urlsplit(url)
    schemes = ("https", "http") if policy.allow_http else ("https",)
    if parts.scheme not in schemes:
        raise _refuse(f"must be an {' or '.join(s + '://' for s in schemes)} URL")
    if parts.username is not None or parts.password is not None:
        raise _refuse("must not contain a user name or password")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise _refuse("the port must be a number from 1 to 65535") from None
    host = parts.hostname
    if not host:
        raise _refuse("names no host")
    try:
        addresses: list[Address] = [ipaddress.ip_address(host)]
    except ValueError:
        if _ipv4_shorthand(host):
            raise _refuse("write an IPv4 address as four decimal numbers (a.b.c.d)") from None
        addresses = _lookup(host, port)
    if not addresses or not all(allowed(a, policy) for a in addresses):
        raise _refuse(f"{host} must resolve to public addresses only; a receiver on a private network must be "
                      "in the allow-list (GRAPH_CREDIT_WEBHOOK_ALLOW)")
    return Target(url, parts.scheme, host, port, str(addresses[0]))


def _ipv4_shorthand(host: str) -> bool:
    """Decimal, octal or hex forms (2130706433, 0177.1, 0x7f.1) that resolvers read as IPv4 addresses."""
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return True


def _lookup(host: str, port: int) -> list[Address]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):  # no such host (or not a valid name): nothing to call
        return []
    out: list[Address] = []
    for *_, sockaddr in infos:
        a = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if a not in out:
            out.append(a)
    return out
