"""The one redaction layer: every byte the tool prints or sends passes through `redact`.

Three kinds of secret are removed from any text, including messages that come from libraries:
- the value of every secret setting in `SECRET_SETTINGS` (read from the environment each time),
- values registered at run time with `remember` (what a config file or a flag carried: the
  `--db-config` password, the password of its `url`, an API key given to the Python API),
- URL user-info (`scheme://user:password@host`) and token-like query parameters anywhere in a text,
- HTTP credentials a server quotes back: `Authorization: …`, `Basic <base64>`, `Bearer <token>`.

A secret is matched as a whole, line by line (a PEM key or any multi-line value), and in its
percent-encoded and JSON-escaped spellings. Values shorter than `MIN_SECRET_LENGTH` cannot be
removed from text without destroying it: the Action refuses them (see `github.py`).

A new secret setting (a signing key, cloud credentials) is covered by adding one row to
`SECRET_SETTINGS`: redaction, the Action's masks, the README table and the canary test read it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urljoin, urlsplit, urlunsplit

from hokusai_ci.config.env_names import PROXY_VARIABLES

MASK = "***"
MIN_SECRET_LENGTH = 4
# the public prefixes of secret formats: a value that is only its prefix hides nothing, and masking
# it would blank the prefix out of every message that explains the format
PUBLIC_PREFIXES = frozenset({"whsec_", "hk_live_", "hk_test_", "hk_dev_"})


@dataclass(frozen=True)
class SecretSetting:
    """A setting whose value is a secret; `action_input` is the Action input that also carries it.
    README's "Where each secret may go" says where each one is sent (a test keeps them in step)."""

    env: str
    action_input: str | None = None


SECRET_SETTINGS: tuple[SecretSetting, ...] = (
    SecretSetting("HOKUSAI_API_KEY", "api-key"),
    SecretSetting("HOKUSAI_WEBHOOK_SECRET", "webhook-secret"),
    SecretSetting("HOKUSAI_DB_PASSWORD"),
    SecretSetting("MLFLOW_TRACKING_TOKEN"),
    SecretSetting("MLFLOW_TRACKING_PASSWORD"),
    SecretSetting("AWS_SECRET_ACCESS_KEY"),  # MLflow's S3 artifact store
    SecretSetting("AWS_SESSION_TOKEN"),
    SecretSetting("HOKUSAI_SIGNING_KEY", "signing-key"),  # a PEM private key: multi-line
)
SECRET_ENV: tuple[str, ...] = tuple(s.env for s in SECRET_SETTINGS)

_remembered: set[str] = set()

# scheme://user-info@ : up to the authority's last '@' (an unencoded '@' in a password included).
# Every repetition is bounded, so a long line (a base64 blob in a log) costs linear time.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]{0,30}://)(?P<info>[^/?#\s]{0,1024})@")
LONE_USER_MAX = 20  # a longer lone user-info (https://TOKEN@host) is treated as a token
_QUERY_PARAM = re.compile(r"(?P<key>[?&;](?P<name>[^=&#\s]{1,64})=)(?P<value>[^&#\s\"']+)")
_SECRET_NAME = re.compile(r"token|key|secret|passw|pwd|sig|auth|credential|session|code", re.IGNORECASE)
# HTTP credentials a server may quote back in an error text: an Authorization header's value,
# and `Basic <base64 of user:password>` / `Bearer <token>` wherever they appear.
_AUTH_HEADER = re.compile(
    r"(?P<name>\b(?:Proxy-)?Authorization[\"']?\s*[:=]\s*[\"']?)(?P<value>[^\r\n\"',;}]{1,1024})", re.IGNORECASE
)
_CREDENTIAL = re.compile(r"(?P<scheme>\b(?P<kind>Basic|Bearer)\s+)(?P<value>[A-Za-z0-9+/=._~-]{4,2048})", re.IGNORECASE)


def remember(*values: str | None) -> None:
    """Register secret values read at run time (config files, flags): redacted from now on."""
    for value in values:
        if value:
            _remembered.add(value)


def forget() -> None:
    """Drop the remembered values (tests; a long-lived process switching configurations)."""
    _remembered.clear()


def known_secrets(environ: Iterable[tuple[str, str]] | None = None) -> list[str]:
    """Every secret value currently known: secret settings in the environment and remembered ones."""
    env = os.environ if environ is None else dict(environ)  # every line printed asks: no copy
    proxies = (secret for secrets in proxy_secrets(env).values() for secret in secrets)
    return sorted({*(value for name in SECRET_ENV if (value := env.get(name))), *proxies, *_remembered})


def fragments(secret: str) -> set[str]:
    """The spellings of one secret that may appear in text: whole, each line, percent-encoded
    and JSON-escaped. Fragments shorter than MIN_SECRET_LENGTH are left out."""
    parts = {secret, secret.strip(), *(line.strip() for line in secret.splitlines())}
    spelled = set()
    for part in parts:
        spelled |= {part, quote(part, safe=""), quote_plus(part, safe=""), json.dumps(part, ensure_ascii=False)[1:-1]}
    return {s for s in spelled if len(s) >= MIN_SECRET_LENGTH and s not in PUBLIC_PREFIXES}


def short_lines(secret: str) -> list[int]:
    """1-based numbers of the non-blank lines too short to be masked reliably."""
    lines = [line.strip() for line in secret.splitlines()]
    return [n for n, line in enumerate(lines, 1) if line and len(line) < MIN_SECRET_LENGTH]


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """Remove URL user-info, token-like query values and every known secret from `text`."""
    text = _USERINFO.sub(_mask_userinfo, text)
    text = _AUTH_HEADER.sub(lambda m: m.group("name") + MASK, text)
    text = _CREDENTIAL.sub(_mask_credential, text)
    text = _QUERY_PARAM.sub(_mask_query_value, text)
    found = set()
    for secret in (*known_secrets(), *extra):
        found |= fragments(secret)
    if not found:
        return text
    ordered = sorted(found, key=len, reverse=True)
    # replacing can join text into a new occurrence ("aa***" with secret "a***"): repeat until clean;
    # every pass shortens the text, so this ends
    while any(s in text for s in ordered):
        for s in ordered:
            text = text.replace(s, MASK)
    return text


def _mask_userinfo(m: re.Match[str]) -> str:
    user, sep, _password = m.group("info").partition(":")
    if sep:
        return f"{m.group('scheme')}{user}:{MASK}@"
    # a user name alone is shown (postgresql://ml_platform@db); a long one is a token (https://TOKEN@host)
    return m.group(0) if len(user) < LONE_USER_MAX else f"{m.group('scheme')}{MASK}@"


def _mask_credential(m: re.Match[str]) -> str:
    """Mask what has a credential's shape; leave prose ("Basic authentication") alone."""
    value = m.group("value")
    if m.group("kind").lower() == "basic":
        try:
            looks = b":" in base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
        except (binascii.Error, ValueError):
            looks = False
    else:
        looks = len(value) >= 8 and any(c.isdigit() or c in "+/=._~-" for c in value)
    return m.group("scheme") + MASK if looks else m.group(0)


def _mask_query_value(m: re.Match[str]) -> str:
    return m.group("key") + MASK if _SECRET_NAME.search(m.group("name")) else m.group(0)


def redact_data(value: Any) -> Any:
    """`redact` applied to every string (keys too) of a JSON-like structure, so it stays valid JSON."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value


def display_url(url: str, base: str | None = None) -> str:
    """A URL safe to print: no user, password, query or fragment (they may carry tokens).
    `base` resolves a relative URL (a redirect's Location)."""
    if base is not None:
        url = urljoin(base, url)
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an unreadable URL)"
    if not parts.scheme.startswith("http"):
        return redact(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}{parts.path}"


def without_credentials(uri: str) -> str:
    """A store URI to record (tags, events, outputs): its user-info dropped, whatever the
    scheme (an `ftp://user:password@host/...` artifact root carries its password)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return redact(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def url_secrets(url: str | None) -> tuple[str, ...]:
    """The secrets in a URL's user-info: the password as written and as a client decodes it
    (or a long lone user name, which is a token)."""
    try:
        parts = urlsplit(url or "")
        user, password = parts.username, parts.password
    except ValueError:
        return ()
    if password is None:
        password = user if user and len(user) >= LONE_USER_MAX else None
    return () if not password else (password, unquote(password))


def proxy_secrets(environ: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """The secrets in the proxy URLs of the environment, by variable (`proxy:3128` is read as
    `http://proxy:3128`, as requests reads it)."""
    found = {}
    for name in PROXY_VARIABLES:
        url = environ.get(name, "").strip()
        secrets = url_secrets(url if "://" in url else f"http://{url}") if url else ()
        if secrets:
            found[name] = secrets
    return found


class RedactingRecords:
    """A log-record factory: every record, from this package or a library (mlflow, urllib3,
    psycopg), leaves with its message and traceback redacted, whatever handler prints it.
    `escape` (the Action's workflow-command escaping) is applied after redaction."""

    def __init__(self, previous: Callable[..., logging.LogRecord]) -> None:
        self.previous = previous
        self.escape: Callable[[str], str] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a library's bad format string: keep the raw text
            message = str(record.msg)
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        message = redact(message)
        if record.exc_text:
            message = f"{message}\n{record.exc_text}"
            record.exc_text = None
        record.msg, record.args = (self.escape(message) if self.escape else message), ()
        return record


def install_log_redaction(escape: Callable[[str], str] | None = None) -> None:
    """Route every log record of the process through `redact` (idempotent)."""
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, RedactingRecords):
        factory = RedactingRecords(factory)
        logging.setLogRecordFactory(factory)
    if escape is not None:
        factory.escape = escape
