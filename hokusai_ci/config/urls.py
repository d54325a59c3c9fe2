"""One URL, one reading.

Python's `urlsplit` and the HTTP client's parser (urllib3's `parse_url`, which `requests` uses
to connect) disagree on some spellings: `https://attacker\\@registry.hokus.ai/` is
`registry.hokus.ai` to the first and `attacker` to the second. A URL the tool sends to (MLflow,
the Hokusai API, the webhook, the S3 endpoint) is therefore accepted only when both readings give
the same scheme, user-info, host and port, and its authority holds nothing that other parsers
(browsers, proxies, WHATWG) read differently: no backslash, no whitespace, one `@` at most, no
percent-encoding and only ASCII letters, digits, `.`, `-` and `_` in the host (an IPv6 literal in
brackets). The host that is checked, logged and connected to is then the same value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from hokusai_ci.domain.errors import HokusaiError, invalid_input

DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST = re.compile(r"[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]")
_WHITESPACE = re.compile(r"\s")


@dataclass(frozen=True)
class HttpUrl:
    """An http(s) URL whose two readings agree: `host` is lower-case, IPv6 without brackets."""

    url: str
    scheme: str
    host: str
    port: int

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


def _authority(url: str) -> str:
    """The authority as a strict reader sees it: up to the first `/`, `\\`, `?` or `#`."""
    rest = url.split("://", 1)[1] if "://" in url else ""
    return re.split(r"[/\\?#]", rest, maxsplit=1)[0]


def _shown(url: str) -> str:
    """The URL with any user-info masked (it may be a password), for an error message."""
    scheme, sep, rest = url.partition("://")
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if not sep or "@" not in netloc:
        return url
    return f"{scheme}{sep}…@{rest[netloc.rindex('@') + 1 :]}"


def problem(url: str) -> str | None:
    """Why `url` has more than one reading, or None when it has exactly one."""
    if "\\" in url:
        return "it holds a backslash, which HTTP clients read as the end of the host; remove it"
    if _WHITESPACE.search(url):
        return "it holds whitespace; percent-encode it (%20) in the path"
    authority = _authority(url)
    if not authority.isascii():
        return (
            "its host part holds non-ASCII characters; write the host in its ASCII (xn--) form "
            "and percent-encode a user name or password"
        )
    if authority.count("@") > 1:
        return "its host part holds more than one '@'; percent-encode an '@' in a user name or password (%40)"
    hostport = authority.rsplit("@", 1)[-1]
    if hostport.startswith("["):
        host = hostport[: hostport.find("]") + 1] if "]" in hostport else hostport
    else:
        host = hostport.split(":", 1)[0]
    if not host:
        return "it names no host; give scheme://host[:port]/path"
    if "%" in host:
        return "its host holds percent-encoding; write the host name plainly"
    if not _HOST.fullmatch(host):
        return "its host holds characters a host name cannot have; use letters, digits, '.', '-' and '_'"
    labels = host.removesuffix(".").split(".")
    if not host.startswith("[") and (len(host) > 253 or any(not 0 < len(label) <= 63 for label in labels)):
        return "its host is not a valid name (an empty or over-long part between dots); check the host"
    return None


def _readings(url: str) -> tuple[tuple[str, str, int, str], tuple[str, str, int, str]]:
    from urllib3.util import parse_url

    split = urlsplit(url)
    scheme = split.scheme.lower()
    ours = (scheme, (split.hostname or "").lower(), split.port or DEFAULT_PORTS.get(scheme, 0), "")
    user = split.netloc.rpartition("@")[0] if "@" in split.netloc else ""
    client = parse_url(url)
    c_scheme = (client.scheme or "").lower()
    c_host = (client.host or "").lower().strip("[]")
    theirs = (c_scheme, c_host, client.port or DEFAULT_PORTS.get(c_scheme, 0), unquote(client.auth or ""))
    return (*ours[:3], unquote(user)), theirs


def read_http_url(setting: str, url: str) -> HttpUrl:
    """`url` parsed once, with both readings compared; exit 2 naming `setting` when they differ."""
    why = problem(url)
    if why is None:
        try:
            ours, theirs = _readings(url)
        except ValueError as exc:  # urlsplit's bad port or bracket, urllib3's LocationParseError
            why = f"it cannot be read ({str(exc).split(':')[0]}); give scheme://host[:port]/path"
        else:
            if ours != theirs:
                why = (
                    f"it reads as host {ours[1]!r} to one URL parser and {theirs[1]!r} to the HTTP client; "
                    "write it plainly as scheme://host[:port]/path"
                )
            else:
                return HttpUrl(url, ours[0], ours[1], ours[2])
    raise invalid_input(setting, _shown(url), why)


def same_reading(url: str) -> HttpUrl | None:
    """`read_http_url` without an error: None for a URL with more than one reading."""
    try:
        return read_http_url("url", url)
    except HokusaiError:
        return None


def proxy_for(url: str) -> str | None:
    """The proxy HTTP_PROXY/HTTPS_PROXY/ALL_PROXY send `url` through, NO_PROXY considered (the
    rules `requests` applies to every request the tool makes), shown with any user-info masked;
    None when requests to `url` go direct."""
    from requests.utils import get_environ_proxies, select_proxy

    if not url.lower().startswith(("http://", "https://")):
        return None
    proxy = select_proxy(url, get_environ_proxies(url))
    if not proxy:
        return None
    if "://" not in proxy:
        proxy = "http://" + proxy  # how requests reads `proxy:3128`
    try:
        parts = urlsplit(proxy)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an unreadable proxy URL)"
    user = "***@" if "@" in parts.netloc else ""
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname or ""
    return f"{parts.scheme}://{user}{host}{port}"
