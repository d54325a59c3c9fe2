"""The one MLflow REST client, over `requests` alone (no `import mlflow`, >1 s): the tracker
for http(s) servers and API mode's registry reads both use it.

Everything it needs arrives through its constructor, as with httpx's transports: the base URL
and an `HttpConfig` (auth, TLS, stall timeout, retries). `HttpConfig.from_environ` reads MLflow's
own variables once, at the edge; nothing here writes the environment. MLflow's own library, which
reads only the environment, gets the same values for the length of a call (`mlflow_environ`)."""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from hokusai_ci.adapters.http_retry import MAX_DELAY, backoff, retry_after_seconds
from hokusai_ci.adapters.mlflow_errors import MlflowApiError, NotMlflowJson, does_not_exist
from hokusai_ci.config.redaction import display_url
from hokusai_ci.config.urls import same_reading
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.ports.tracking import Status, Tag

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
# MLflow's library prints run URLs to stdout and reports telemetry unless told not to; a user's
# own value wins
MLFLOW_QUIET = {"MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}


@dataclass(frozen=True)
class HttpConfig:
    """How to talk to one MLflow server. The defaults keep a dead server from stalling a CI job
    for minutes (MLflow's own client retries POSTs 7 times over ~4 minutes). `timeout` is
    requests' read timeout: it bounds each wait for a byte, never a whole upload, so it is the
    stall timeout (HOKUSAI_STALL_TIMEOUT). Basic auth wins over the token, as in MLflow's client."""

    timeout: float = 60.0
    retries: int = 2
    backoff: float = 1.0  # the first retry waits up to this many seconds, doubling each time
    connect_timeout: float = 30.0
    retry_status: frozenset[int] = RETRY_STATUS
    token: str | None = field(default=None, repr=False)
    basic: tuple[str, str] | None = field(default=None, repr=False)
    verify: bool | str = True  # False: MLFLOW_TRACKING_INSECURE_TLS; a path: the server's CA
    client_cert: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None, **given: Any) -> HttpConfig:
        """MLflow's variables (`environ`, default the process's), each overridden by `given`."""
        env = os.environ if environ is None else environ
        user, password = env.get("MLFLOW_TRACKING_USERNAME"), env.get("MLFLOW_TRACKING_PASSWORD")
        insecure = env.get("MLFLOW_TRACKING_INSECURE_TLS", "").strip().lower() in ("1", "true", "yes")
        read = cls(
            timeout=float(env.get("MLFLOW_HTTP_REQUEST_TIMEOUT") or cls.timeout),
            retries=int(env.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES") or cls.retries),
            backoff=float(env.get("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR") or cls.backoff),
            token=env.get("MLFLOW_TRACKING_TOKEN") or None,
            basic=(user, password) if user and password else None,
            verify=False if insecure else (env.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or True),
            client_cert=env.get("MLFLOW_TRACKING_CLIENT_CERT_PATH") or None,
        )
        return replace(read, **given)

    def mlflow_variables(self) -> dict[str, str | None]:
        """The same configuration as MLflow's library reads it; None: the variable is unset."""
        return {
            "MLFLOW_HTTP_REQUEST_TIMEOUT": f"{self.timeout:g}",
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(self.retries),
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": f"{self.backoff:g}",
            "MLFLOW_TRACKING_TOKEN": self.token,
            "MLFLOW_TRACKING_USERNAME": self.basic[0] if self.basic else None,
            "MLFLOW_TRACKING_PASSWORD": self.basic[1] if self.basic else None,
            "MLFLOW_TRACKING_INSECURE_TLS": "true" if self.verify is False else None,
            "MLFLOW_TRACKING_SERVER_CERT_PATH": self.verify if isinstance(self.verify, str) else None,
            "MLFLOW_TRACKING_CLIENT_CERT_PATH": self.client_cert,
        }


@contextmanager
def mlflow_environ(config: HttpConfig, **extra: str) -> Iterator[None]:
    """MLflow's library reads its configuration from the environment only: for the length of a
    call into it, the environment holds `config` (and `extra`), then is put back as it was, so
    nothing of one registration (the API key above all) outlives it in the process."""
    wanted: dict[str, str | None] = {**config.mlflow_variables(), **extra}
    for key, value in MLFLOW_QUIET.items():
        wanted[key] = os.environ.get(key) or value
    before = {key: os.environ.get(key) for key in wanted}
    try:
        _set_environ(wanted)
        yield
    finally:
        _set_environ(before)


def _set_environ(values: Mapping[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def mlflow_error(
    uri: str,
    action: str,
    code: str | None,
    reason: str,
    exc: BaseException | None = None,
    config: HttpConfig | None = None,
) -> HokusaiError:
    """One line naming the server, the step and MLflow's reason, with what to check (a stall
    names the timeout and attempts of `config`, the client's)."""
    reason = " ".join(reason.split())
    hint = "check that the server is running, the URI is right and the credentials are valid"
    if exc is not None and is_stall(exc, reason):
        code = None
        config = config or HttpConfig()
        reason = f"no progress for {config.timeout:g} s on each of {config.retries + 1} attempt(s)"
        hint = "check that the server is up and not overloaded, or raise HOKUSAI_STALL_TIMEOUT"
    full = _no_space(exc) if exc is not None else None
    if full is not None:
        local = urlsplit(uri).path if uri.startswith("file:") else None
        reason = f"no space left on {full or local or 'the disk it writes to'}"
        hint = "free space there (or set HOKUSAI_HOME to a larger disk for a local store), then re-run"
    if len(reason) > 300:
        reason = reason[:300] + "…"
    if code in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
        hint = "check the credentials (MLFLOW_TRACKING_TOKEN or username/password)"
    return HokusaiError(
        Category.MLFLOW_ERROR,
        f"could not {action} MLflow at {display_url(uri)}: {code + ': ' if code else ''}{reason}; {hint}",
    )


def _no_space(exc: BaseException) -> str | None:
    """The path of a write that found the disk full (a local store under HOKUSAI_HOME; empty
    when the error names none), if that is what failed: the fix is free space, not the server
    or credentials."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return str(seen.filename or "")
        seen = seen.__cause__ or seen.__context__
    return None


def is_stall(exc: BaseException, text: str) -> bool:
    """A request that ran out of its stall timeout (MLflow wraps requests' timeouts in text)."""
    import requests

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (requests.Timeout, TimeoutError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return "timed out" in text.lower() or "timeout" in text.lower()


def tags_of(entity: Mapping[str, Any]) -> dict[str, str]:
    """MLflow's tag list (`[{"key": .., "value": ..}]`) as a dict."""
    return {t["key"]: t.get("value", "") for t in entity.get("tags", [])}


def live(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The versions not superseded (a failed run's leftovers), oldest first: a token's versions
    as every reader counts them."""
    kept = [v for v in versions if v["tags"].get(Tag.STATUS) != Status.SUPERSEDED]
    return sorted(kept, key=lambda v: int(v["version"]))


class MlflowHttp:
    """A client of one MLflow server, safe to share between threads (each has its own
    `requests.Session`). `call` raises `MlflowApiError` for an error answer, `NotMlflowJson`
    for a success that is not MLflow's, and `requests.RequestException` when the server
    cannot be reached after the retries."""

    def __init__(
        self,
        uri: str,
        config: HttpConfig | None = None,
        *,
        trust_env: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import requests

        self.base = uri.rstrip("/")
        # the server's scheme, host and port, read once: every request checks its URL against it
        reading = same_reading(self.base)
        self.origin = None if reading is None else reading.origin
        self.config = config or HttpConfig()
        self.sleep = sleep
        # proxies from the environment (HTTPS_PROXY, NO_PROXY) are read once, here
        self.proxies = requests.utils.get_environ_proxies(self.base) if trust_env else {}
        self._local = threading.local()

    @property
    def retries(self) -> int:
        return self.config.retries

    @property
    def session(self) -> Any:
        """This thread's session (a `requests.Session` is not thread-safe)."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self._new_session()
        return session

    def _new_session(self) -> Any:
        import requests

        config = self.config
        session = requests.Session()
        session.trust_env = False  # the environment was read once, into the config and proxies
        session.proxies = dict(self.proxies)
        if config.basic:
            session.auth = config.basic
        elif config.token:
            session.headers["Authorization"] = f"Bearer {config.token}"
        session.verify = config.verify
        if config.client_cert:
            session.cert = config.client_cert
        return session

    def call(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        """One REST call under /api/2.0/mlflow/. Connection errors, timeouts, 429 and 5xx are
        retried for idempotent calls; a call that is not is retried only when nothing was sent."""
        url = f"{self.base}/api/2.0/mlflow/{path}"
        response, attempts = self._send(method, url, idempotent, json=json, params=params)
        return self.answer(response, path=path, attempts=attempts)

    def send(self, method: str, url: str, idempotent: bool, **kwargs: Any) -> Any:
        """Send with the retry policy; `data` may be a callable that makes a fresh body per try."""
        return self._send(method, url, idempotent, **kwargs)[0]

    def _send(self, method: str, url: str, idempotent: bool, **kwargs: Any) -> tuple[Any, int]:
        import requests

        config = self.config
        body = kwargs.pop("data", None)
        if not self.same_origin(url):  # an artifact host the server named: its credentials stay home
            kwargs["headers"] = {**kwargs.get("headers", {}), "Authorization": None}
            kwargs["auth"] = _no_auth
        attempt = 0
        while True:
            attempt += 1
            wait = None
            try:
                data = body() if callable(body) else body
                timeout = (config.connect_timeout, config.timeout)
                response = self.session.request(method, url, timeout=timeout, data=data, **kwargs)
            except requests.RequestException as exc:
                if attempt > config.retries or not (idempotent or _nothing_sent(exc)):
                    raise
            else:
                if response.status_code not in config.retry_status or not idempotent or attempt > config.retries:
                    return response, attempt
                wait = retry_after_seconds(response.headers.get("Retry-After"))
            self.sleep(backoff(attempt, config.backoff) if wait is None else min(wait, MAX_DELAY))

    def same_origin(self, url: str) -> bool:
        """Whether `url` is on this server's scheme, host and port (both read one way only)."""
        theirs = same_reading(url)
        return self.origin is not None and theirs is not None and self.origin == theirs.origin

    @staticmethod
    def answer(response: Any, *, path: str = "", attempts: int = 1, strict: bool = True) -> dict[str, Any]:
        """MLflow's JSON object; an error answer raises `MlflowApiError`, a success that is not
        a JSON object `NotMlflowJson` (`strict`; else it reads as empty)."""
        try:
            data = response.json() if response.content else {}
        except ValueError:
            data = None
        if response.status_code >= 400:
            body = data if isinstance(data, dict) else {}
            code = body.get("error_code") or f"HTTP {response.status_code}"
            message = body.get("message") or response.text[:300] or response.reason or ""
            raise MlflowApiError(response.status_code, str(code), str(message), data, path, attempts)
        if not isinstance(data, dict):
            if strict:
                kind = response.headers.get("Content-Type") or "no content type"
                raise NotMlflowJson(response.status_code, kind, path)
            return {}
        return data

    # -- model versions ------------------------------------------------------------------
    def search_versions(self, filter_string: str) -> list[dict[str, Any]]:
        """Every model version matching `filter_string`, page by page, each with its `tags` as a dict."""
        found: list[dict[str, Any]] = []
        page: str | None = None
        while True:
            params: dict[str, Any] = {"filter": filter_string, "max_results": 200}
            if page:
                params["page_token"] = page
            data = self.call("GET", "model-versions/search", params=params)
            for version in data.get("model_versions", []):
                found.append({**version, "tags": tags_of(version)})
            page = data.get("next_page_token")
            if not page:
                return found

    def version(self, name: str, version: str) -> dict[str, Any] | None:
        """One model version, its `tags` as a dict; None when it does not exist (deleted)."""
        try:
            data = self.call("GET", "model-versions/get", params={"name": name, "version": version})
        except MlflowApiError as exc:
            if does_not_exist(exc):
                return None
            raise
        found = data.get("model_version") or {}
        return {**found, "tags": tags_of(found)}

    def version_by_alias(self, name: str, alias: str) -> dict[str, Any] | None:
        """The version `alias` names, with its `tags` as a dict, in one request; None when the
        alias (or the model) does not exist: MLflow answers an unknown alias of a known model
        with 400 INVALID_PARAMETER_VALUE "... alias X not found"."""
        try:
            data = self.call("GET", "registered-models/alias", params={"name": name, "alias": alias})
        except MlflowApiError as exc:
            unknown = exc.code == "INVALID_PARAMETER_VALUE" and "not found" in str(exc).lower()
            if does_not_exist(exc) or unknown:
                return None
            raise
        found = data.get("model_version") or {}
        return {**found, "tags": tags_of(found)} if found else None

    def set_alias(self, name: str, alias: str, version: str) -> None:
        """Point `alias` at `version`. MLflow's call is an upsert with no expected-version check
        (the decision is the caller's); setting the same value twice is harmless, so it is retried."""
        self.call("POST", "registered-models/alias", json={"name": name, "alias": alias, "version": version})

    def delete_alias(self, name: str, alias: str) -> None:
        self.call("DELETE", "registered-models/alias", json={"name": name, "alias": alias})

    def token_versions(self, token_id: str | None = None) -> list[dict[str, Any]]:
        """The versions tagged with `token_id` (None: with any token), superseded ones included."""
        if token_id is None:
            return self.search_versions(f"tags.`{Tag.TOKEN}` LIKE '%'")
        return self.search_versions(f"tags.`{Tag.TOKEN}` = '{token_id}'")

    def live_versions(self, token_id: str | None = None) -> list[dict[str, Any]]:
        """A token's live versions, oldest first (`live`)."""
        return live(self.token_versions(token_id))


def _no_auth(request: Any) -> Any:
    """A request-level auth that adds nothing, so the session's own is not applied."""
    return request


def _nothing_sent(exc: BaseException) -> bool:
    """True when the connection was never established, so a retry cannot duplicate anything."""
    import requests

    if isinstance(exc, requests.ConnectTimeout):
        return True
    seen: object = exc
    for _ in range(6):  # requests wraps urllib3's MaxRetryError, which wraps the cause
        if type(seen).__name__ == "NewConnectionError" or isinstance(seen, ConnectionRefusedError):
            return True
        nxt = getattr(seen, "reason", None)
        if nxt is None and isinstance(seen, BaseException) and seen.args:
            nxt = seen.args[0]
        if not isinstance(nxt, BaseException):
            return False
        seen = nxt
    return False
