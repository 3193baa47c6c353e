"""One policy for every URL Assay holds and, later, fetches or posts to (dataset locations today; webhooks and
lineage transports next): which hosts it may name.

A host is read the way resolvers and URL parsers read it, not as it is written, so that no spelling of an internal
address slips through:

- IPv4 in any form ``inet_aton`` accepts: decimal (``2130706433``), hex (``0x7f000001``, ``0x7f.1``), octal
  (``0177.0.0.1``), shortened (``127.1``, ``10.1``), and any mix of them;
- IPv6, with IPv4 inside it: mapped (``::ffff:127.0.0.1``), compatible (``::127.0.0.1``), NAT64 (``64:ff9b::...``),
  6to4 (``2002:7f00:1::``) and Teredo;
- trailing dots (``localhost.``), letter case, and IDNA (full-width digits and ideographic full stops fold to
  ASCII, as a browser or resolver folds them).

Refused: loopback, private, shared (CGNAT), link-local, unspecified, multicast, reserved and documentation
addresses (everything that is not globally routable), cloud metadata services by address (169.254.169.254,
fd00:ec2::254, 100.100.100.200) and by name (metadata.google.internal...), names that only ever resolve inside
(``localhost``, ``*.internal``, ``*.local``...) and public names that resolve to loopback by design (``*.nip.io``).

A name can still resolve to an internal address (DNS rebinding): whatever connects must check the addresses it
resolved with ``check_address`` and connect to that address, not resolve again.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names that resolve to this machine, a private network or a metadata service, whatever DNS says elsewhere.
REFUSED_NAMES = frozenset(
    {"localhost", "metadata", "metadata.google.internal", "metadata.goog", "instance-data", "kubernetes"}
)
REFUSED_SUFFIXES = (
    ".localhost",
    ".local",
    ".localdomain",
    ".internal",
    ".intranet",
    ".lan",
    ".home.arpa",
    ".in-addr.arpa",
    ".ip6.arpa",
    ".svc.cluster.local",
    # Public wildcard DNS that answers with the address written in the name (127.0.0.1.nip.io -> 127.0.0.1).
    ".nip.io",
    ".sslip.io",
    ".xip.io",
    ".localtest.me",
    ".lvh.me",
)
# Metadata services by address, for the record: each is also outside the global range.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(text) for text in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NUMERIC_LABEL = re.compile(r"\A(0[xX][0-9A-Fa-f]*|[0-9]+)\Z")
_HOST_NAME = re.compile(r"\A[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\Z")


class UrlRefused(ValueError):
    """Why a URL or host is refused, in words fit for a form or an API error."""


@dataclass(frozen=True)
class Host:
    """A host as a resolver reads it: a normalised name, or the address it denotes."""

    name: str
    address: Address | None


def parse_ipv4(text: str) -> ipaddress.IPv4Address | None:
    """The address ``inet_aton`` reads in ``text`` (1 to 4 parts, each decimal, 0x-hex or 0-octal; the last part
    fills the remaining bytes), or None when ``text`` is not numeric. Raises UrlRefused for a numeric host that
    is no valid address (``256.1.1.1``, ``08.1``): a resolver may read it otherwise, so it is refused."""
    parts = text.split(".")
    if not parts or not all(_NUMERIC_LABEL.match(part) for part in parts):
        return None
    values: list[int] = []
    for part in parts:
        try:
            if part[:2].lower() == "0x":
                values.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                values.append(int(part, 8))
            else:
                values.append(int(part, 10))
        except ValueError:
            raise UrlRefused(f"The host {text!r} is neither a name nor a valid address.") from None
    if len(values) > 4 or any(value > 255 for value in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise UrlRefused(f"The host {text!r} is neither a name nor a valid address.")
    number = 0
    for value in values[:-1]:
        number = number * 256 + value
    number = number * 256 ** (5 - len(values)) + values[-1]
    return ipaddress.IPv4Address(number)


def parse_host(host: str) -> Host:
    """Reads ``host`` (without port; IPv6 with or without brackets) as a resolver would. Raises UrlRefused when it
    is neither a host name nor an address."""
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if not text:
        raise UrlRefused("The URL must name a host.")
    if "%" in text:
        raise UrlRefused(f"The host {host!r} must not be percent-encoded or carry a zone.")
    if ":" in text:
        try:
            return Host(text.lower(), ipaddress.IPv6Address(text))
        except ValueError:
            raise UrlRefused(f"The host {host!r} is not a valid IPv6 address.") from None
    try:
        # IDNA (2003, as resolvers and browsers apply it): full-width forms and other full stops fold to ASCII.
        ascii_name = text.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise UrlRefused(f"The host {host!r} is not a valid host name.") from None
    name = ascii_name.rstrip(".")
    if not name:
        raise UrlRefused("The URL must name a host.")
    labels = name.split(".")
    if _NUMERIC_LABEL.match(labels[-1]):
        # A host whose last label is a number is an address (the URL standard's rule), however it is written.
        address = parse_ipv4(name)
        if address is None:
            raise UrlRefused(f"The host {host!r} is neither a name nor a valid address.")
        return Host(str(address), address)
    if not _HOST_NAME.match(name) or len(name) > 253:
        raise UrlRefused(f"The host {host!r} is not a valid host name.")
    return Host(name, None)


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and that a network stack may route to: mapped, compatible, NAT64,
    6to4 or Teredo (the Teredo client)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or address in _NAT64_LOCAL or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def check_address(address: Address) -> None:
    """Refuses an address that is not globally routable or that is a metadata service (also for a connecting
    transport to check what a name resolved to)."""
    shown = str(address)
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            check_address(inner)
            shown = f"{address} ({inner})"
    if address in METADATA_ADDRESSES:
        raise UrlRefused(f"The address {shown} is a cloud metadata service and is refused.")
    if (
        not address.is_global
        or address.is_multicast
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_unspecified
    ):
        raise UrlRefused(f"The address {shown} is not a public address and is refused.")


def check_host(host: str) -> Host:
    """Refuses a host that is, or names, an internal address; returns it as a resolver reads it."""
    parsed = parse_host(host)
    if parsed.address is not None:
        check_address(parsed.address)
        return parsed
    name = parsed.name
    if name in REFUSED_NAMES or any(name.endswith(suffix) or name == suffix[1:] for suffix in REFUSED_SUFFIXES):
        raise UrlRefused(f"The host {host!r} is internal and is refused.")
    return parsed


def check_url(url: str, *, schemes: frozenset[str] | set[str], host_required: bool = True) -> urllib.parse.SplitResult:
    """Refuses a URL of another scheme, with credentials, with characters parsers disagree on (backslashes,
    spaces, control characters), or whose host is internal. Returns the split URL."""
    if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F or char == "\\" for char in url):
        raise UrlRefused("The URL must not contain spaces, control characters or backslashes.")
    parsed = urllib.parse.urlsplit(url)
    scheme = parsed.scheme.lower()
    if scheme not in schemes:
        allowed = ", ".join(sorted(schemes))
        raise UrlRefused(f"The scheme {scheme or '(none)'!r} is not allowed; use one of {allowed}.")
    if "@" in parsed.netloc:
        raise UrlRefused("The URL must not contain credentials (user information before '@').")
    try:
        parsed.port  # noqa: B018 - raises ValueError for a port that is no number or out of range
    except ValueError:
        raise UrlRefused("The URL's port must be a number from 0 to 65535.") from None
    host = host_of(parsed.netloc)
    if not host:
        if host_required:
            raise UrlRefused("The URL must name a host.")
        return parsed
    check_host(host)
    return parsed


def host_of(netloc: str) -> str:
    """The host of a URL's authority, as written: user information and port removed, IPv6 brackets kept."""
    host = netloc.rsplit("@", 1)[-1]
    if host.startswith("["):
        return host[: host.index("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0]
