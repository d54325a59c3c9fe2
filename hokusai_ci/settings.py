"""One settings model for every face (CLI, Python API, GitHub Action, container).

Precedence, per field: command-line flag > environment > `--db-config` file > default.
Environment variable names live here and nowhere else.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tempfile
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import SplitResult, quote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from hokusai_ci.errors import Category, HokusaiError, invalid_input
from hokusai_ci.redaction import display_url, remember, url_secrets
from hokusai_ci.urls import read_http_url, same_reading
from hokusai_ci.validation import CONTROL, check_path_text, parse_bounded, parse_integer, refuse_control


class Env:
    """Names of the environment variables the tool reads."""

    HOME = "HOKUSAI_HOME"
    LOG_LEVEL = "HOKUSAI_LOG_LEVEL"
    DB_CONFIG = "HOKUSAI_DB_CONFIG"
    DB_HOST = "HOKUSAI_DB_HOST"
    DB_PORT = "HOKUSAI_DB_PORT"
    DB_NAME = "HOKUSAI_DB_NAME"
    DB_USER = "HOKUSAI_DB_USER"
    DB_PASSWORD = "HOKUSAI_DB_PASSWORD"
    WEBHOOK_URL = "HOKUSAI_WEBHOOK_URL"
    WEBHOOK_TIMEOUT = "HOKUSAI_WEBHOOK_TIMEOUT"
    EXPERIMENT = "HOKUSAI_EXPERIMENT"
    LEASE_SECONDS = "HOKUSAI_LEASE_SECONDS"
    STORE_RETRY_SECONDS = "HOKUSAI_STORE_RETRY_SECONDS"
    STALL_TIMEOUT = "HOKUSAI_STALL_TIMEOUT"
    MLFLOW_RETRIES = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
    WEBHOOK_SECRET = "HOKUSAI_WEBHOOK_SECRET"
    WEBHOOK_ATTEMPTS = "HOKUSAI_WEBHOOK_ATTEMPTS"
    API_KEY = "HOKUSAI_API_KEY"
    API_URL = "HOKUSAI_API_URL"
    MODE = "HOKUSAI_MODE"
    MOCK_MODE = "HOKUSAI_MOCK_MODE"
    MLFLOW_TRACKING_URI = "MLFLOW_TRACKING_URI"
    MLFLOW_TRACKING_TOKEN = "MLFLOW_TRACKING_TOKEN"
    MLFLOW_S3_ENDPOINT_URL = "MLFLOW_S3_ENDPOINT_URL"  # MLflow's own; S3 uploads go there
    TRUST_HOSTS = "HOKUSAI_TRUST_HOSTS"
    SIGN = "HOKUSAI_SIGN"  # key | keyless | off
    SIGNING_KEY = "HOKUSAI_SIGNING_KEY"  # the PEM private key itself (a CI secret), not a path
    SIGSTORE_TRUST_CONFIG = "HOKUSAI_SIGSTORE_TRUST_CONFIG"  # keyless against a private Sigstore
    CONTAINER = "HOKUSAI_CONTAINER"  # set by the image's entrypoint: this run is the container
    CI = "CI"  # "true" on every hosted CI (GitHub, GitLab, CircleCI, ...)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SIGN_METHODS = ("key", "keyless", "off")
MODES = ("database", "api", "local", "mock")
Mode = Literal["database", "api", "local", "mock"]
API_KEY_PREFIXES = ("hk_live_", "hk_test_", "hk_dev_")
DEFAULT_HOME = ".hokusai"
DEFAULT_EXPERIMENT = "hokusai-model-registration"
DEFAULT_API_URL = "https://api.hokus.ai"
DEFAULT_API_MLFLOW_URI = "https://registry.hokus.ai/api/mlflow"
# Bounds of the numeric settings: (low, high) per field, checked before anything is written.
WEBHOOK_TIMEOUT_RANGE = (0.1, 300.0)
WEBHOOK_ATTEMPTS_RANGE = (1, 20)
LEASE_RANGE = (10, 24 * 3600)  # renewed by a heartbeat every quarter of it while a run works
STORE_RETRY_RANGE = (0.0, 3600.0)
STALL_TIMEOUT_RANGE = (1.0, 3600.0)
MLFLOW_RETRIES_RANGE = (0, 10)


class DatabaseConfig(BaseModel):
    """A PostgreSQL server by parts, or any supported database by URL (`postgresql://…`,
    `sqlite:///path`)."""

    model_config = ConfigDict(extra="forbid")

    host: str | None = None
    port: int = Field(default=5432, ge=1, le=65535)
    database: str = "hokusai"
    username: str | None = None
    password: SecretStr | None = None
    url: SecretStr | None = None

    @property
    def dialect(self) -> Literal["postgresql", "sqlite"]:
        if self.url is not None:
            scheme = urlsplit(self.url.get_secret_value()).scheme.split("+")[0]
            if scheme == "sqlite":
                return "sqlite"
            if scheme in ("postgresql", "postgres"):
                return "postgresql"
            raise invalid_input("db-config url", f"{scheme}://…", "use postgresql://… or sqlite:///path")
        return "postgresql"

    def dsn(self) -> str:
        """Connection string with the password: for the driver only, never for display."""
        if self.url is not None:
            return self.url.get_secret_value()
        auth = ""
        if self.username:
            auth = quote(self.username, safe="")
            if self.password is not None:
                auth += ":" + quote(self.password.get_secret_value(), safe="")
            auth += "@"
        return f"postgresql://{auth}{self.host}:{self.port}/{quote(self.database, safe='')}"

    def sqlite_path(self) -> Path:
        """The file of a `sqlite:///relative/path` or `sqlite:////absolute/path` URL."""
        assert self.url is not None
        rest = self.url.get_secret_value().split(":", 1)[1]
        return Path(rest[3:] if rest.startswith("///") else rest.lstrip("/"))

    def describe(self) -> str:
        """Where the database is, safe to print: no password, ever."""
        if self.url is not None:
            parts = urlsplit(self.url.get_secret_value())
            if parts.scheme.startswith("sqlite"):
                return f"sqlite:{parts.path}"
            host = parts.hostname or "localhost"
            user = f"{parts.username}@" if parts.username else ""
            return f"postgresql://{user}{host}:{_port(parts) or 5432}{parts.path}"
        user = f"{self.username}@" if self.username else ""
        return f"postgresql://{user}{self.host}:{self.port}/{self.database}"


class Settings(BaseModel):
    """Resolved configuration. Build it with `load_settings`."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode = "local"
    mode_reason: str = "nothing configured: embedded local stores"
    home: Path = Path(DEFAULT_HOME)
    database: DatabaseConfig | None = None
    mlflow_uri: str | None = None
    api_key: SecretStr | None = None
    api_url: str = DEFAULT_API_URL
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_timeout: float = Field(default=10.0, ge=WEBHOOK_TIMEOUT_RANGE[0], le=WEBHOOK_TIMEOUT_RANGE[1])
    webhook_attempts: int = Field(default=4, ge=WEBHOOK_ATTEMPTS_RANGE[0], le=WEBHOOK_ATTEMPTS_RANGE[1])
    experiment: str = DEFAULT_EXPERIMENT
    lease_seconds: int = Field(default=120, ge=LEASE_RANGE[0], le=LEASE_RANGE[1])
    store_retry_seconds: float = Field(default=60.0, ge=STORE_RETRY_RANGE[0], le=STORE_RETRY_RANGE[1])
    stall_timeout: float = Field(default=60.0, ge=STALL_TIMEOUT_RANGE[0], le=STALL_TIMEOUT_RANGE[1])
    mlflow_retries: int = Field(default=2, ge=MLFLOW_RETRIES_RANGE[0], le=MLFLOW_RETRIES_RANGE[1])
    log_level: str = "INFO"
    sign: Literal["key", "keyless", "off"] = "off"
    signing_key: SecretStr | None = None  # PEM text
    signing_key_source: str = Env.SIGNING_KEY  # the option or variable it came from, for messages
    signing_key_file: str | None = None
    sigstore_trust_config: str | None = None
    mlflow_token: SecretStr | None = None
    trust_hosts: tuple[str, ...] = ()

    def registry_token(self) -> str | None:
        """The bearer token MLflow gets: the user's own MLFLOW_TRACKING_TOKEN; else, in API mode,
        the Hokusai API key, but only when MLflow is a Hokusai host (the default registry, the
        configured API's host) or a host the user listed in HOKUSAI_TRUST_HOSTS. Any other server
        gets no key: it still sees MLflow's own credentials (token, username/password)."""
        if self.mlflow_token is not None:
            return self.mlflow_token.get_secret_value()
        if self.mode != "api" or self.api_key is None:
            return None
        return self.api_key.get_secret_value() if self.key_trusted_for(self.effective_mlflow_uri) else None

    def key_trusted_for(self, url: str) -> bool:
        """Whether the Hokusai API key may be sent to `url`'s host (and port)."""
        where = _origin(url)
        if where is None:
            return False
        hokusai = {_origin(DEFAULT_API_MLFLOW_URI), _origin(self.api_url)}
        return where in hokusai or any(_trusted(where, entry) for entry in self.trust_hosts)

    def is_platform_registry(self, url: str) -> bool:
        """Whether `url` is the platform's own MLflow (the default registry, or the configured
        API's host): only a version there can be found by the platform."""
        where = _origin(url)
        return where is not None and where in {_origin(DEFAULT_API_MLFLOW_URI), _origin(self.api_url)}

    @property
    def sqlite_path(self) -> Path:
        return self.home / "hokusai.db"

    @property
    def local_mlflow_uri(self) -> str:
        return (self.home.resolve() / "mlruns").as_uri()

    @property
    def effective_mlflow_uri(self) -> str:
        if self.mlflow_uri:
            return self.mlflow_uri
        return DEFAULT_API_MLFLOW_URI if self.mode == "api" else self.local_mlflow_uri

    def store_description(self) -> str:
        if self.mode == "api":
            return f"Hokusai API {display_url(self.api_url)} (token state from the model registry)"
        if self.mode == "mock":
            return f"mock:{self.home / 'mock.db'}"
        if self.database is None:
            return f"sqlite:{self.sqlite_path}"
        return self.database.describe()


def load_settings(flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Merge flags, environment, the `--db-config` file and defaults into `Settings`."""
    flags = {k: v for k, v in (flags or {}).items() if v not in (None, "")}
    env = {k: v for k, v in (os.environ if environ is None else environ).items() if v != ""}

    values: dict[str, Any] = {}
    simple = {
        "home": Env.HOME,
        "mlflow_uri": Env.MLFLOW_TRACKING_URI,
        "webhook_url": Env.WEBHOOK_URL,
        "webhook_timeout": Env.WEBHOOK_TIMEOUT,
        "experiment": Env.EXPERIMENT,
        "lease_seconds": Env.LEASE_SECONDS,
        "store_retry_seconds": Env.STORE_RETRY_SECONDS,
        "log_level": Env.LOG_LEVEL,
        "api_url": Env.API_URL,
        "webhook_secret": Env.WEBHOOK_SECRET,
        "webhook_attempts": Env.WEBHOOK_ATTEMPTS,
        "stall_timeout": Env.STALL_TIMEOUT,
        "mlflow_retries": Env.MLFLOW_RETRIES,
    }
    for field, var in simple.items():
        if field in flags:
            values[field] = flags[field]
        elif var in env:
            values[field] = env[var]

    if "log_level" in values:
        shown = "log-level" if "log_level" in flags else Env.LOG_LEVEL  # where it was set
        level = check_no_control(shown, str(values["log_level"])).strip().upper()
        if level not in LOG_LEVELS:
            raise invalid_input(shown, values["log_level"], f"use one of {', '.join(LOG_LEVELS)}")
        values["log_level"] = level
    for url_field in ("mlflow_uri", "webhook_url", "api_url"):
        if url_field in values:
            shown = url_field.replace("_", "-") if url_field in flags else simple[url_field]  # where it was set
            values[url_field] = _check_url(url_field, str(values[url_field]), shown)
    api_key = flags.get("api_key") or env.get(Env.API_KEY)
    if env.get(Env.MLFLOW_TRACKING_TOKEN) and env[Env.MLFLOW_TRACKING_TOKEN] != api_key:
        values["mlflow_token"] = env[Env.MLFLOW_TRACKING_TOKEN]  # the key itself goes by registry_token's rule
    if env.get(Env.MLFLOW_S3_ENDPOINT_URL):
        _check_url("s3_endpoint", env[Env.MLFLOW_S3_ENDPOINT_URL], Env.MLFLOW_S3_ENDPOINT_URL)
    if env.get(Env.TRUST_HOSTS):
        values["trust_hosts"] = _trust_hosts(env[Env.TRUST_HOSTS])
    _check_plain_values(values, simple)

    db = _database_values(flags.get("db_config") or env.get(Env.DB_CONFIG), env)
    if db is not None:
        values["database"] = db
    if api_key:
        values["api_key"] = _check_api_key(str(api_key))
    values["mode"], values["mode_reason"] = _select_mode(env, db is not None, bool(api_key), "mlflow_uri" in values)
    if values["mode"] == "local" and env.get(Env.DB_PASSWORD):  # never a silent fallback to the local store
        raise invalid_input(
            Env.DB_HOST, None, f"{Env.DB_PASSWORD} is set but no database is: set its host (or a url in --db-config)"
        )
    if values["mode"] == "api" and "home" not in values and env.get(Env.CONTAINER) == "true":
        values["home"] = Path(tempfile.gettempdir()) / "hokusai"  # not a root-owned folder in a mounted workspace
    values.update(_signing_values(flags, env))
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        shown = "(hidden)" if field in SECRET_FIELDS else err.get("input")
        raise invalid_input(field, shown, err["msg"]) from None
    _remember_secrets(settings)
    return settings


def _check_plain_values(values: dict[str, Any], names: Mapping[str, str]) -> None:
    """Numbers strictly parsed and bounded, text free of control characters, the webhook
    secret decodable: every setting is known good before anything is written."""
    numbers = {
        "webhook_timeout": WEBHOOK_TIMEOUT_RANGE,
        "stall_timeout": STALL_TIMEOUT_RANGE,
        "store_retry_seconds": STORE_RETRY_RANGE,
    }
    integers = {
        "webhook_attempts": WEBHOOK_ATTEMPTS_RANGE,
        "lease_seconds": LEASE_RANGE,
        "mlflow_retries": MLFLOW_RETRIES_RANGE,
    }
    for field, (low, high) in numbers.items():
        if field in values:
            values[field] = parse_bounded(names[field], values[field], low, high)
    for field, (ilow, ihigh) in integers.items():
        if field in values:
            values[field] = parse_integer(names[field], values[field], ilow, ihigh)
    if "home" in values:
        values["home"] = check_path_text(Env.HOME, str(values["home"]))
    if "experiment" in values:
        name = refuse_control(Env.EXPERIMENT, str(values["experiment"]))
        if not name.strip() or len(name) > 500:
            raise invalid_input(Env.EXPERIMENT, name[:60], "give an experiment name of 1-500 characters")
    if "webhook_secret" in values:
        _check_webhook_secret(str(values["webhook_secret"]))


MIN_WEBHOOK_KEY_BYTES = 24  # Standard Webhooks: 24 to 64 random bytes


def _check_webhook_secret(secret: str) -> None:
    from hokusai_ci.webhooks import secret_key

    shown = "whsec_…" if secret.startswith("whsec_") else "(hidden)"
    if CONTROL.search(secret):
        raise invalid_input(Env.WEBHOOK_SECRET, shown, "contains a control character (a line break?); copy it again")
    try:
        key = secret_key(secret)
    except ValueError:
        raise invalid_input(
            Env.WEBHOOK_SECRET, shown, "a whsec_ secret must be base64 after the prefix; copy it again"
        ) from None
    if len(key) < MIN_WEBHOOK_KEY_BYTES:  # a short HMAC key lets anyone forge events
        raise invalid_input(
            Env.WEBHOOK_SECRET,
            shown,
            f"the signing key is {len(key)} bytes; use {MIN_WEBHOOK_KEY_BYTES} to 64 random bytes "
            "(e.g. whsec_ followed by the output of `openssl rand -base64 32`)",
        )


SECRET_FIELDS = ("api_key", "webhook_secret", "mlflow_token")


def _remember_secrets(s: Settings) -> None:
    """Secrets that came from flags, files or URLs join the redaction layer's list."""
    db = s.database
    remember(
        *(v.get_secret_value() for v in (s.api_key, s.webhook_secret, s.mlflow_token) if v is not None),
        *(secret for u in (s.mlflow_uri, s.webhook_url, s.api_url) for secret in url_secrets(u)),
        db.password.get_secret_value() if db and db.password else None,
        *(url_secrets(db.url.get_secret_value()) if db and db.url else ()),
    )


def _origin(url: str) -> tuple[str, str, int] | None:
    """Scheme, host and port of an http(s) URL with one reading; None for any other (never
    trusted). The scheme counts: `http://registry.hokus.ai:443/` is not the registry."""
    parsed = same_reading(url)
    return None if parsed is None else parsed.origin


def _trusted(where: tuple[str, str, int], entry: str) -> bool:
    """A HOKUSAI_TRUST_HOSTS entry: `host` (any port) or `host:port`, over the scheme the user gave."""
    parts = urlsplit("//" + entry)
    return parts.hostname == where[1] and (parts.port is None or parts.port == where[2])


def _trust_hosts(value: str) -> tuple[str, ...]:
    entries = tuple(e.strip().lower() for e in value.split(",") if e.strip())
    for entry in entries:
        check_no_control(Env.TRUST_HOSTS, entry)
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


_CONTROL = re.compile(r"[\u2028\u2029]")


def check_no_control(field: str, value: str, *, show: bool = True) -> str:
    """Refuse control characters (C0, DEL, C1, line/paragraph separators): in a URL or host they
    could split a log line into a forged workflow command or reach a server as a new header."""
    bad = next((c for c in value if unicodedata.category(c) == "Cc" or _CONTROL.match(c)), None)
    if bad is None:
        return value
    what = f"it contains the control character U+{ord(bad):04X}"
    if not show:
        message = f"{field} is invalid: {what} (value not shown); remove it"
        raise HokusaiError(Category.INVALID_INPUT, message, field=field)
    raise invalid_input(field, value, f"{what}; remove line breaks and other control characters")


def _signing_values(flags: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Signing is off unless asked for: a key (--sign-key FILE or HOKUSAI_SIGNING_KEY) or
    --sign keyless. The key is read here and kept as a secret; it is parsed only by a
    registration that signs, so read-only commands never import the signing libraries."""
    out: dict[str, Any] = {}
    key_file = flags.get("sign_key")
    if key_file:
        pem = read_input_file("sign-key", str(key_file))[1]  # a regular, small text file
        out["signing_key"], out["signing_key_source"] = SecretStr(pem), "sign-key"
        out["signing_key_file"] = str(key_file)
        remember(pem)
    elif env.get(Env.SIGNING_KEY, "").strip():
        out["signing_key"] = SecretStr(env[Env.SIGNING_KEY])
    method = str(flags.get("sign") or env.get(Env.SIGN) or ("key" if "signing_key" in out else "off"))
    method = check_no_control("sign" if flags.get("sign") else Env.SIGN, method).strip().lower()
    if method not in SIGN_METHODS:
        raise invalid_input("sign", method, f"use one of {', '.join(SIGN_METHODS)}")
    out["sign"] = method
    if env.get(Env.SIGSTORE_TRUST_CONFIG):
        out["sigstore_trust_config"] = env[Env.SIGSTORE_TRUST_CONFIG]
    return out


def mode_without_secrets(env: Mapping[str, str], has_db_config: bool = False) -> Mode:
    """The mode a registration with this environment would run in, decided by the same rule
    as `load_settings` but without reading or requiring any secret or file: for `model gate`,
    which stands for that registration in a pull request (HOKUSAI_MODE=api needs no key there)."""
    has_db = has_db_config or bool(env.get(Env.DB_CONFIG) or env.get(Env.DB_HOST))
    return _select_mode(env, has_db, bool(env.get(Env.API_KEY)), need_secrets=False)[0]


def _select_mode(
    env: Mapping[str, str], has_db: bool, has_key: bool, has_mlflow: bool = False, *, need_secrets: bool = True
) -> tuple[Mode, str]:
    """Explicit and printed: HOKUSAI_MODE, then HOKUSAI_MOCK_MODE, then what is configured."""
    forced = check_no_control(Env.MODE, env.get(Env.MODE, "")).strip().lower()
    if forced:
        if forced not in MODES:
            raise invalid_input(Env.MODE, env[Env.MODE], f"use one of {', '.join(MODES)}")
        if forced == "database" and not has_db and need_secrets:
            raise invalid_input(Env.MODE, forced, "database mode needs --db-config or HOKUSAI_DB_HOST")
        if forced == "api" and not has_key and need_secrets:
            raise invalid_input(Env.MODE, forced, "API mode needs HOKUSAI_API_KEY")
        return forced, f"{Env.MODE}={forced}"  # type: ignore[return-value]
    if Env.MOCK_MODE in env:
        word = check_no_control(Env.MOCK_MODE, env[Env.MOCK_MODE]).strip().lower()
        if word not in ("true", "false", "1", "0"):
            raise invalid_input(Env.MOCK_MODE, env[Env.MOCK_MODE], "use true, false, 1 or 0")
        if word in ("true", "1"):
            return "mock", f"{Env.MOCK_MODE}={word}: simulated, no network"
    if has_db:
        return "database", "a database is configured"
    if has_key:
        return "api", f"{Env.API_KEY} is set"
    if has_mlflow:
        return "local", "no token store configured: embedded local token store, the MLflow server given"
    return "local", "nothing configured: embedded local stores"


def _check_api_key(key: str) -> SecretStr:
    """A key is sent in an HTTP header: printable ASCII, no space, one of the site's prefixes."""
    shown = key[:8] + "…" if key.startswith(API_KEY_PREFIXES) else "(hidden)"
    if not key.startswith(API_KEY_PREFIXES) or len(key) < 12:
        raise invalid_input(
            Env.API_KEY,
            shown,
            f"a Hokusai API key starts with {', '.join(API_KEY_PREFIXES)}; copy it again from the site",
        )
    if not (key.isascii() and key.isprintable()) or any(c.isspace() for c in key):
        raise invalid_input(
            Env.API_KEY,
            shown,
            "it holds a space, a line break or a character that is not ASCII; copy it again from the site",
        )
    return SecretStr(key)


def _port(parts: SplitResult) -> int | None:
    """The URL's port; None when absent or not a number (callers validate URLs first)."""
    try:
        return parts.port
    except ValueError:
        return None


def _check_url(field: str, url: str, name: str) -> str:
    check_no_control(name, url)
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


def _database_values(config_path: str | None, env: Mapping[str, str]) -> DatabaseConfig | None:
    data: dict[str, Any] = {}
    if config_path:
        data = read_config_file("db-config", config_path)
    by_env = {
        "host": Env.DB_HOST,
        "port": Env.DB_PORT,
        "database": Env.DB_NAME,
        "username": Env.DB_USER,
        "password": Env.DB_PASSWORD,
    }
    for field, var in by_env.items():
        if var in env:
            data[field] = env[var]
    if Env.DB_PORT in env:
        data["port"] = parse_integer(Env.DB_PORT, data["port"], 1, 65535)
    elif "port" in data:
        try:
            data["port"] = parse_integer("db-config port", data["port"], 1, 65535)
        except HokusaiError:  # a value from a config file is never echoed
            raise HokusaiError(
                Category.INVALID_INPUT,
                "db-config port is invalid (value not shown): give a whole number from 1 to 65535",
                field="db-config port",
            ) from None
    # A url and a host name two databases; the file's other parts would be silently ignored. (The
    # HOKUSAI_DB_* parts other than the host may be job-wide variables: the url wins over them.)
    where = {k: by_env[k] if by_env[k] in env else "db-config" for k in DB_PARTS if k in data}
    parts = [k for k, source in where.items() if k == "host" or source == "db-config"]
    if data.get("url") and parts:
        named = ", ".join(f"{k} ({where[k]})" for k in parts)
        raise HokusaiError(
            Category.INVALID_INPUT,
            f"db-config url is invalid (value not shown): the url names the database and {named} too; "
            "give either the url or host/port/database/username/password",
            field="db-config url",
        )
    if not data.get("host") and not data.get("url"):
        if (data.keys() - {"password"}) or config_path:  # a db-config that configures no database
            field = "db-config host" if config_path else Env.DB_HOST
            raise invalid_input(field, None, "a database is partly configured; set its host (or a url in --db-config)")
        return None
    _check_db_values(data)
    try:
        return DatabaseConfig(**data)
    except ValidationError as exc:
        raise _db_error(exc) from None


DB_KEYS = tuple(DatabaseConfig.model_fields)
DB_PARTS = ("host", "port", "database", "username", "password")  # the url's alternative


def _check_db_values(data: Mapping[str, Any]) -> None:
    """Values from a config file are never echoed in an error: only the key is named."""
    for key in ("host", "url", "username", "database"):
        if isinstance(data.get(key), str):
            check_no_control(f"db-config {key}", data[key], show=False)
    url = data.get("url")
    if isinstance(url, str):
        try:
            netloc = urlsplit(url).netloc
        except ValueError:  # an unclosed IPv6 bracket
            raise HokusaiError(
                Category.INVALID_INPUT,
                "db-config url is invalid: its host is not readable (value not shown); "
                "check the brackets of an IPv6 host",
                field="db-config url",
            ) from None
        userinfo = netloc.rpartition("@")[0]
        if re.search(r"%(?![0-9A-Fa-f]{2})", userinfo):
            raise HokusaiError(
                Category.INVALID_INPUT,
                "db-config url is invalid: its user or password is not valid percent-encoding (value not shown); "
                "a '%' must be followed by two hex digits: encode it with urllib.parse.quote(password, safe='')",
                field="db-config url",
            )
        try:
            _ = urlsplit(url).port
        except ValueError:
            raise HokusaiError(
                Category.INVALID_INPUT,
                "db-config url is invalid: its port is not a number from 0 to 65535 (value not shown)",
                field="db-config url",
            ) from None


def _db_error(exc: ValidationError) -> HokusaiError:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        close = difflib.get_close_matches(key, DB_KEYS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        fix = f"{hint}the keys are {', '.join(DB_KEYS)}"
        message = f"db-config has an unknown key {key!r} (value not shown): {fix}"
    else:
        message = f"db-config {key} is invalid (value not shown): {err['msg']}"
    return HokusaiError(Category.INVALID_INPUT, message, field=f"db-config {key}")


MAX_INPUT_FILE = 16 * 1024 * 1024  # a config or metrics file is small; bounds memory and parse time


def read_input_file(field: str, path_text: str) -> tuple[Path, str]:
    """A small UTF-8 text file named by a user: every failure (missing, a folder, no
    permission, too long a path, not text) is an input error naming the field."""
    path = check_path_text(field, path_text)
    try:
        if not path.exists():
            raise invalid_input(field, path_text, "the file does not exist; check the path")
        if not path.is_file():
            raise invalid_input(field, path_text, "is not a regular file (a folder, a device or a pipe); give a file")
        if path.stat().st_size > MAX_INPUT_FILE:
            raise invalid_input(field, path_text, f"the file is larger than {MAX_INPUT_FILE // 2**20} MiB")
        return path, path.read_text(encoding="utf-8-sig")  # a leading BOM (Windows editors) is not content
    except OSError as exc:
        raise invalid_input(field, path_text, f"cannot read it ({exc.strerror or exc.__class__.__name__})") from None
    except UnicodeDecodeError:
        raise invalid_input(field, path_text, "cannot read it (not UTF-8 text)") from None


def read_config_file(field: str, path_text: str) -> dict[str, Any]:
    """Read a JSON or YAML mapping; errors name the file and never echo its contents."""
    path, text = read_input_file(field, path_text)
    data = parse_json_or_yaml(field, path, text)
    if not isinstance(data, dict):
        raise invalid_input(field, str(path), "the file must hold a mapping of keys to values")
    return data


def parse_json_or_yaml(field: str, path: Path, text: str, *, yaml_text: bool = False) -> Any:
    """Parse a config or metrics file. Nesting deeper than Python's recursion limit, integers
    past its 4300-digit limit and a key given twice in one object (which value counts would be
    a guess) are input errors, never crashes. `yaml_text` keeps YAML scalars as written (YAML
    1.1 would read `0.8_5` as 0.85 and `1_0` as 10), so numbers go through the one strict parser."""
    try:
        if path.suffix.lower() == ".json" or text.lstrip().startswith(("{", "[")):
            try:
                return json.loads(text, object_pairs_hook=_unique_keys)
            except json.JSONDecodeError as exc:
                raise invalid_input(field, str(path), f"not valid JSON (line {exc.lineno})") from None
        import yaml  # only when a YAML file is read

        try:
            return yaml.load(text, Loader=_unique_key_loader(yaml.BaseLoader if yaml_text else yaml.SafeLoader))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise invalid_input(field, str(path), f"not valid JSON or YAML{where}") from None
    except DuplicateKey as dup:
        shown = dup.key if len(dup.key) <= 64 else dup.key[:64] + "…"
        raise invalid_input(
            field, str(path), f"the key {shown!r} appears twice in one object{dup.where}; keep one"
        ) from None
    except (RecursionError, ValueError) as exc:
        raise invalid_input(field, str(path), _too_complex(exc)) from None


class DuplicateKey(Exception):
    def __init__(self, key: str, where: str = "") -> None:
        super().__init__(key)
        self.key, self.where = key, where


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKey(key)
        seen[key] = value
    return seen


def _unique_key_loader(base: Any) -> Any:
    """`base` (a PyYAML loader class) refusing a key given twice in one mapping."""
    import yaml

    class UniqueKeyLoader(base):  # type: ignore[misc]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[str] = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                    if key_node.value in seen:
                        raise DuplicateKey(str(key_node.value), f" (line {key_node.start_mark.line + 1})")
                    seen.add(key_node.value)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def _too_complex(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply to read; flatten the file"
    return "holds a number too long to read (over 4300 digits)"
