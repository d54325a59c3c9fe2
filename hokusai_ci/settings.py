"""One settings model for every face (CLI, Python API, GitHub Action, container).

Precedence, per field: command-line flag > environment > `--db-config` file > default.
Environment variable names live here and nowhere else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from hokusai_ci.errors import invalid_input


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
    WEBHOOK_SECRET = "HOKUSAI_WEBHOOK_SECRET"
    WEBHOOK_ATTEMPTS = "HOKUSAI_WEBHOOK_ATTEMPTS"
    API_KEY = "HOKUSAI_API_KEY"
    API_URL = "HOKUSAI_API_URL"
    MODE = "HOKUSAI_MODE"
    MOCK_MODE = "HOKUSAI_MOCK_MODE"
    MLFLOW_TRACKING_URI = "MLFLOW_TRACKING_URI"
    MLFLOW_TRACKING_TOKEN = "MLFLOW_TRACKING_TOKEN"


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MODES = ("database", "api", "local", "mock")
Mode = Literal["database", "api", "local", "mock"]
API_KEY_PREFIXES = ("hk_live_", "hk_test_", "hk_dev_")
DEFAULT_HOME = ".hokusai"
DEFAULT_EXPERIMENT = "hokusai-model-registration"
DEFAULT_API_URL = "https://api.hokus.ai"
DEFAULT_API_MLFLOW_URI = "https://registry.hokus.ai/api/mlflow"


class DatabaseConfig(BaseModel):
    """A PostgreSQL server by parts, or any supported database by URL (`postgresql://…`,
    `sqlite:///path`)."""

    model_config = ConfigDict(extra="forbid")

    host: str | None = None
    port: int = 5432
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

    def describe(self) -> str:
        """Where the database is, safe to print: no password, ever."""
        if self.url is not None:
            parts = urlsplit(self.url.get_secret_value())
            if parts.scheme.startswith("sqlite"):
                return f"sqlite:{parts.path}"
            host = parts.hostname or "localhost"
            user = f"{parts.username}@" if parts.username else ""
            return f"postgresql://{user}{host}:{parts.port or 5432}{parts.path}"
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
    webhook_timeout: float = Field(default=10.0, gt=0)
    webhook_attempts: int = Field(default=4, ge=1, le=20)
    experiment: str = DEFAULT_EXPERIMENT
    lease_seconds: int = Field(default=3600, gt=0)
    log_level: str = "INFO"

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
        "log_level": Env.LOG_LEVEL,
        "api_url": Env.API_URL,
        "webhook_secret": Env.WEBHOOK_SECRET,
        "webhook_attempts": Env.WEBHOOK_ATTEMPTS,
    }
    for field, var in simple.items():
        if field in flags:
            values[field] = flags[field]
        elif var in env:
            values[field] = env[var]

    if "log_level" in values:
        level = str(values["log_level"]).strip().upper()
        if level not in LOG_LEVELS:
            raise invalid_input(Env.LOG_LEVEL, values["log_level"], f"use one of {', '.join(LOG_LEVELS)}")
        values["log_level"] = level
    for url_field in ("mlflow_uri", "webhook_url", "api_url"):
        if url_field in values:
            values[url_field] = _check_url(url_field, str(values[url_field]))

    db = _database_values(flags.get("db_config") or env.get(Env.DB_CONFIG), env)
    if db is not None:
        values["database"] = db
    api_key = flags.get("api_key") or env.get(Env.API_KEY)
    if api_key:
        values["api_key"] = _check_api_key(str(api_key))
    values["mode"], values["mode_reason"] = _select_mode(env, db is not None, bool(api_key))
    try:
        return Settings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise invalid_input(field, err.get("input"), err["msg"]) from None


def _select_mode(env: Mapping[str, str], has_db: bool, has_key: bool) -> tuple[Mode, str]:
    """Explicit and printed: HOKUSAI_MODE, then HOKUSAI_MOCK_MODE, then what is configured."""
    forced = env.get(Env.MODE, "").strip().lower()
    if forced:
        if forced not in MODES:
            raise invalid_input(Env.MODE, env[Env.MODE], f"use one of {', '.join(MODES)}")
        if forced == "database" and not has_db:
            raise invalid_input(Env.MODE, forced, "database mode needs --db-config or HOKUSAI_DB_HOST")
        if forced == "api" and not has_key:
            raise invalid_input(Env.MODE, forced, "API mode needs HOKUSAI_API_KEY")
        return forced, f"{Env.MODE}={forced}"  # type: ignore[return-value]
    if Env.MOCK_MODE in env:
        word = env[Env.MOCK_MODE].strip().lower()
        if word not in ("true", "false", "1", "0"):
            raise invalid_input(Env.MOCK_MODE, env[Env.MOCK_MODE], "use true, false, 1 or 0")
        if word in ("true", "1"):
            return "mock", f"{Env.MOCK_MODE}={word}: simulated, no network"
    if has_db:
        return "database", "a database is configured"
    if has_key:
        return "api", f"{Env.API_KEY} is set"
    return "local", "nothing configured: embedded local stores"


def _check_api_key(key: str) -> SecretStr:
    if not key.startswith(API_KEY_PREFIXES) or len(key) < 12 or any(c.isspace() for c in key):
        shown = key[:8] + "…" if key.startswith(API_KEY_PREFIXES) else "(hidden)"
        raise invalid_input(
            Env.API_KEY,
            shown,
            f"a Hokusai API key starts with {', '.join(API_KEY_PREFIXES)}; copy it again from the site",
        )
    return SecretStr(key)


def _check_url(field: str, url: str) -> str:
    parts = urlsplit(url)
    allowed = ("http", "https") if field in ("webhook_url", "api_url") else ("http", "https", "file", "databricks")
    if parts.scheme not in allowed or (parts.scheme.startswith("http") and not parts.hostname):
        fix = "give an http(s):// URL" + ("" if field in ("webhook_url", "api_url") else " or a file: URI")
        raise invalid_input(field.replace("_", "-"), url, fix)
    return url


def _database_values(config_path: str | None, env: Mapping[str, str]) -> DatabaseConfig | None:
    data: dict[str, Any] = {}
    if config_path:
        data = read_config_file("db-config", Path(config_path))
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
    if not data.get("host") and not data.get("url"):
        if data.keys() - {"password"}:
            raise invalid_input(
                Env.DB_HOST, None, "a database is partly configured; set its host (or a url in --db-config)"
            )
        return None
    try:
        return DatabaseConfig(**data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        shown = "***" if field in ("password", "url") else err.get("input")
        raise invalid_input(f"db-config {field}", shown, err["msg"]) from None


def read_config_file(field: str, path: Path) -> dict[str, Any]:
    """Read a JSON or YAML mapping; errors name the file and never echo its contents."""
    if not path.is_file():
        raise invalid_input(field, str(path), "the file does not exist; give a JSON or YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise invalid_input(field, str(path), f"cannot read it ({exc.__class__.__name__})") from None
    data = parse_json_or_yaml(field, path, text)
    if not isinstance(data, dict):
        raise invalid_input(field, str(path), "the file must hold a mapping of keys to values")
    return data


def parse_json_or_yaml(field: str, path: Path, text: str) -> Any:
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise invalid_input(field, str(path), f"not valid JSON (line {exc.lineno})") from None
    import yaml  # only when a YAML file is read

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise invalid_input(field, str(path), f"not valid JSON or YAML{where}") from None


def display_url(url: str) -> str:
    """A URL safe to print: no user, password, query or fragment (they may carry tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme.startswith("http") else url


SECRET_ENV = (
    Env.DB_PASSWORD,
    "HOKUSAI_API_KEY",
    "HOKUSAI_WEBHOOK_SECRET",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "AWS_SECRET_ACCESS_KEY",  # S3 artifact stores written directly
    "AWS_SESSION_TOKEN",
)


def redact(text: str, extra: tuple[str, ...] = ()) -> str:
    """Last line of defence: blank out every known secret value before text leaves the process."""
    for secret in (*(os.environ.get(name, "") for name in SECRET_ENV), *extra):
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
