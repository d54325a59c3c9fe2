"""One settings model for every face (CLI, Python API, GitHub Action, container).

Precedence, per field: command-line flag > environment > `--db-config` file > default. The
parts with a job of their own live beside it: the environment names (`env_names`), the mode
decision (`mode_choice`), URL and trusted-host rules (`url_rules`), the database config
(`db_config`) and the file reader (`config_files`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from hokusai_ci.config.config_files import read_input_file
from hokusai_ci.config.db_config import DatabaseConfig, database_values
from hokusai_ci.config.env_names import Env
from hokusai_ci.config.mode_choice import Mode, ModeRules, rules_of, select_mode
from hokusai_ci.config.redaction import display_url, remember, url_secrets
from hokusai_ci.config.url_rules import (
    DEFAULT_API_MLFLOW_URI,
    DEFAULT_API_URL,
    check_key_transport,
    check_url,
    is_platform_registry,
    key_trusted_for,
    trust_hosts,
)
from hokusai_ci.config.validation import CONTROL, check_path_text, parse_bounded, parse_integer, refuse_control
from hokusai_ci.domain.errors import invalid_input

__all__ = ["DEFAULT_API_MLFLOW_URI", "DatabaseConfig", "Env", "Settings", "display_url", "load_settings"]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SIGN_METHODS = ("key", "keyless", "off")
API_KEY_PREFIXES = ("hk_live_", "hk_test_", "hk_dev_")
DEFAULT_HOME = ".hokusai"
DEFAULT_EXPERIMENT = "hokusai-model-registration"
# Bounds of the numeric settings: (low, high) per field, checked before anything is written.
WEBHOOK_TIMEOUT_RANGE = (0.1, 300.0)
WEBHOOK_ATTEMPTS_RANGE = (1, 20)
LEASE_RANGE = (10, 24 * 3600)  # renewed by a heartbeat every quarter of it while a run works
STORE_RETRY_RANGE = (0.0, 3600.0)
STALL_TIMEOUT_RANGE = (1.0, 3600.0)
MLFLOW_RETRIES_RANGE = (0, 10)


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

    @property
    def rules(self) -> ModeRules:
        """What the selected mode means (`mode_choice.RULES`), asked instead of its name."""
        return rules_of(self.mode)

    def registry_token(self) -> str | None:
        """The bearer token MLflow gets: the user's own MLFLOW_TRACKING_TOKEN; else, in API mode,
        the Hokusai API key, but only when MLflow is a Hokusai host (the default registry, the
        configured API's host) or a host the user listed in HOKUSAI_TRUST_HOSTS. Any other server
        gets no key: it still sees MLflow's own credentials (token, username/password)."""
        if self.mlflow_token is not None:
            return self.mlflow_token.get_secret_value()
        if not self.rules.platform or self.api_key is None:
            return None
        return self.api_key.get_secret_value() if self.key_trusted_for(self.effective_mlflow_uri) else None

    def key_trusted_for(self, url: str) -> bool:
        """Whether the Hokusai API key may be sent to `url`'s host (and port)."""
        return key_trusted_for(url, self.api_url, self.trust_hosts)

    def is_platform_registry(self, url: str) -> bool:
        """Whether `url` is the platform's own MLflow: only a version there can be found by the platform."""
        return is_platform_registry(url, self.api_url)

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
        return DEFAULT_API_MLFLOW_URI if self.rules.platform else self.local_mlflow_uri

    def store_description(self) -> str:
        if self.rules.platform:
            return f"Hokusai API {display_url(self.api_url)} (token state from the model registry)"
        if self.rules.simulated:
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
        level = refuse_control(shown, str(values["log_level"])).strip().upper()
        if level not in LOG_LEVELS:
            raise invalid_input(shown, values["log_level"], f"use one of {', '.join(LOG_LEVELS)}")
        values["log_level"] = level
    for url_field in ("mlflow_uri", "webhook_url", "api_url"):
        if url_field in values:
            shown = url_field.replace("_", "-") if url_field in flags else simple[url_field]  # where it was set
            values[url_field] = check_url(url_field, str(values[url_field]), shown)
    api_key = flags.get("api_key") or env.get(Env.API_KEY)
    if env.get(Env.MLFLOW_TRACKING_TOKEN) and env[Env.MLFLOW_TRACKING_TOKEN] != api_key:
        values["mlflow_token"] = env[Env.MLFLOW_TRACKING_TOKEN]  # the key itself goes by registry_token's rule
    if env.get(Env.MLFLOW_S3_ENDPOINT_URL):
        check_url("s3_endpoint", env[Env.MLFLOW_S3_ENDPOINT_URL], Env.MLFLOW_S3_ENDPOINT_URL)
    if env.get(Env.TRUST_HOSTS):
        values["trust_hosts"] = trust_hosts(env[Env.TRUST_HOSTS])
    _check_plain_values(values, simple)

    db = database_values(flags.get("db_config") or env.get(Env.DB_CONFIG), env)
    if db is not None:
        values["database"] = db
    if api_key:
        values["api_key"] = _check_api_key(str(api_key))
        shown = "api-url" if "api_url" in flags else Env.API_URL
        check_key_transport(values.get("api_url", DEFAULT_API_URL), str(api_key), shown)
    values["mode"], values["mode_reason"] = select_mode(env, db is not None, bool(api_key), "mlflow_uri" in values)
    if rules_of(values["mode"]).platform and "home" not in values and env.get(Env.CONTAINER) == "true":
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
    method = refuse_control("sign" if flags.get("sign") else Env.SIGN, method).strip().lower()
    if method not in SIGN_METHODS:
        raise invalid_input("sign", method, f"use one of {', '.join(SIGN_METHODS)}")
    out["sign"] = method
    if env.get(Env.SIGSTORE_TRUST_CONFIG):
        out["sigstore_trust_config"] = env[Env.SIGSTORE_TRUST_CONFIG]
    return out


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
