"""Which URLs a setting accepts and which hosts the Hokusai API key may be sent to.

A URL setting is read once, by the HTTP client's own parser (`urls.read_http_url`); the key goes
only to a Hokusai host (the default registry, the configured API's host) or a host the user
listed in HOKUSAI_TRUST_HOSTS, compared by scheme, host and port. A live key never travels in
clear: a plain `http://` API URL is accepted with it only on this machine (a local stand-in).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from hokusai_ci.config.env_names import Env
from hokusai_ci.config.redaction import display_url
from hokusai_ci.config.urls import read_http_url, same_reading
from hokusai_ci.config.validation import refuse_control
from hokusai_ci.domain.errors import invalid_input

DEFAULT_API_URL = "https://api.hokus.ai"
DEFAULT_API_MLFLOW_URI = "https://registry.hokus.ai/api/mlflow"


def key_trusted_for(url: str, api_url: str, trusted_hosts: tuple[str, ...]) -> bool:
    """Whether the Hokusai API key may be sent to `url`'s host (and port)."""
    where = origin(url)
    if where is None:
        return False
    return is_platform_registry(url, api_url) or any(_trusted(where, entry) for entry in trusted_hosts)


def is_platform_registry(url: str, api_url: str) -> bool:
    """Whether `url` is the platform's own MLflow (the default registry, or the configured
    API's host): only a version there can be found by the platform."""
    where = origin(url)
    return where is not None and where in {origin(DEFAULT_API_MLFLOW_URI), origin(api_url)}


def origin(url: str) -> tuple[str, str, int] | None:
    """Scheme, host and port of an http(s) URL with one reading; None for any other (never
    trusted). The scheme counts: `http://registry.hokus.ai:443/` is not the registry."""
    parsed = same_reading(url)
    return None if parsed is None else parsed.origin


def _trusted(where: tuple[str, str, int], entry: str) -> bool:
    """A HOKUSAI_TRUST_HOSTS entry: `host` (any port) or `host:port`, over the scheme the user gave."""
    parts = urlsplit("//" + entry)
    return parts.hostname == where[1] and (parts.port is None or parts.port == where[2])


def trust_hosts(value: str) -> tuple[str, ...]:
    entries = tuple(e.strip().lower() for e in value.split(",") if e.strip())
    for entry in entries:
        refuse_control(Env.TRUST_HOSTS, entry)
        try:
            parts = urlsplit("//" + entry)
            _ = parts.port
            ok = bool(parts.hostname) and not (parts.path or parts.query or parts.fragment or "@" in entry)
            ok = ok and same_reading(f"https://{entry}/") is not None  # a host the HTTP client reads alike
        except ValueError:
            ok = False
        if not ok:
            raise invalid_input(
                Env.TRUST_HOSTS, entry, "list host names or host:port, comma-separated, e.g. registry.example.com"
            )
    return entries


LIVE_KEY_PREFIX = "hk_live_"


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback address (127.0.0.0/8, ::1): traffic that never leaves the machine."""
    if host.rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_key_transport(api_url: str, api_key: str, name: str) -> None:
    """A live key goes to the API in a header: over plain http to another host anyone on the
    path reads it. Refused here, before any request is made; loopback http stays allowed."""
    where = same_reading(api_url)
    if not api_key.startswith(LIVE_KEY_PREFIX) or where is None or where.scheme != "http":
        return
    if not is_loopback(where.host):
        raise invalid_input(
            name, display_url(api_url), "plain http would send the live API key in clear to a remote host; use https://"
        )


def check_url(field: str, url: str, name: str) -> str:
    refuse_control(name, url)
    http_only = field in ("webhook_url", "api_url", "s3_endpoint")
    allowed = ("http", "https") if http_only else ("http", "https", "file", "databricks")
    fix = "give an http(s):// URL" + ("" if http_only else " or a file: URI")
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        raise invalid_input(name, url, f"{exc}; {fix}") from None
    if parts.scheme in ("http", "https"):
        read_http_url(name, url)  # one reading, the HTTP client's, or refused
    if parts.scheme not in allowed:
        raise invalid_input(name, url, fix)
    if parts.scheme == "file" and parts.netloc not in ("", "localhost"):
        raise invalid_input(name, url, "a file: URI names a folder on this machine: file:///path (no host)")
    if field == "mlflow_uri" and (parts.query or parts.fragment):
        raise invalid_input(
            name,
            display_url(url),
            "an MLflow server URI has no query or fragment (? or #; not shown, as they may hold a token); remove them",
        )
    return url
