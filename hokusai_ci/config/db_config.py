"""The database a run keeps its tokens and events in: a PostgreSQL server by parts or any
supported database by URL, from `--db-config` (JSON or YAML) and the HOKUSAI_DB_* variables.

A database config holds a password, so its values are never echoed in an error: only the key
is named.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import SplitResult, quote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from hokusai_ci.config.config_files import read_config_file
from hokusai_ci.config.env_names import Env
from hokusai_ci.config.validation import parse_integer, refuse_control
from hokusai_ci.domain.errors import Category, HokusaiError, invalid_input


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


def _port(parts: SplitResult) -> int | None:
    """The URL's port; None when absent or not a number (callers validate URLs first)."""
    try:
        return parts.port
    except ValueError:
        return None


def database_values(config_path: str | None, env: Mapping[str, str]) -> DatabaseConfig | None:
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
            refuse_control(f"db-config {key}", data[key], show=False)
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
