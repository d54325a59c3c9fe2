"""MLflow's REST API over `requests` alone: auth, TLS, timeouts and bounded retries, the way
MLflow's own client reads them from the environment, without importing mlflow (>1 s)."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from hokusai_ci.errors import Category, HokusaiError
from hokusai_ci.redaction import display_url
from hokusai_ci.urls import same_reading

# A user's own value wins; these defaults keep a dead server from stalling a CI job for minutes
# (MLflow's own default retries POSTs 7 times over ~4 minutes).
ENV_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


def apply_env_defaults(stall_timeout: float | None = None, retries: int | None = None) -> None:
    """MLflow's variables, read by its client and by `MlflowHttp` alike. The request timeout is
    requests' socket timeout: it bounds each wait for a byte, never a whole upload, so it is the
    stall timeout (HOKUSAI_STALL_TIMEOUT, which the settings give here with the retries)."""
    for key, value in ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if stall_timeout is not None:
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = f"{stall_timeout:g}"
    if retries is not None:
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(retries)


def mlflow_error(
    uri: str, action: str, code: str | None, reason: str, exc: BaseException | None = None
) -> HokusaiError:
    """One line naming the server, the step and MLflow's reason, with what to check."""
    reason = " ".join(reason.split())
    hint = "check that the server is running, the URI is right and the credentials are valid"
    if exc is not None and is_stall(exc, reason):
        code = None
        timeout = os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", ENV_DEFAULTS["MLFLOW_HTTP_REQUEST_TIMEOUT"])
        attempts = int(os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")) + 1
        reason = f"no progress for {timeout} s on each of {attempts} attempt(s)"
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
        mlflow_uri=display_url(uri),
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


class MlflowApiError(Exception):
    """An answer from MLflow that is an error; `code` is MLflow's error_code when it sent one."""

    def __init__(self, status: int, code: str | None, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


class MlflowHttp:
    """A session to one MLflow server. `call` raises `MlflowApiError` for an error answer and
    `requests.RequestException` when the server cannot be reached after the retries."""

    def __init__(self, uri: str, sleep: Callable[[float], None] = time.sleep) -> None:
        import requests

        apply_env_defaults()
        self.base = uri.rstrip("/")
        self.retries = int(os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"])
        self.backoff = float(os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"])
        # a read timeout bounds a stall between two socket reads, not the whole transfer
        self.timeout = float(os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"])
        self.sleep = sleep
        self.session = requests.Session()
        self.session.trust_env = False  # proxies from the environment are honoured below, once
        self.session.proxies = requests.utils.get_environ_proxies(self.base)
        user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        if user and password:  # basic auth wins, as in MLflow's client
            self.session.auth = (user, password)
        elif token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        if _env_flag("MLFLOW_TRACKING_INSECURE_TLS"):
            self.session.verify = False
        elif cert := os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH"):
            self.session.verify = cert
        if client_cert := os.environ.get("MLFLOW_TRACKING_CLIENT_CERT_PATH"):
            self.session.cert = client_cert

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
        response = self.send(method, url, idempotent, json=json, params=params)
        return self.answer(response)

    def send(self, method: str, url: str, idempotent: bool, **kwargs: Any) -> Any:
        """Send with the retry policy; `data` may be a callable that makes a fresh body per try."""
        import requests

        body = kwargs.pop("data", None)
        if not self.same_origin(url):  # an artifact host the server named: its credentials stay home
            kwargs["headers"] = {**kwargs.get("headers", {}), "Authorization": None}
            kwargs["auth"] = _no_auth
        attempt = 0
        while True:
            attempt += 1
            try:
                data = body() if callable(body) else body
                response = self.session.request(method, url, timeout=(30, self.timeout), data=data, **kwargs)
            except requests.RequestException as exc:
                if attempt > self.retries or not (idempotent or _nothing_sent(exc)):
                    raise
            else:
                if response.status_code not in RETRY_STATUS or not idempotent or attempt > self.retries:
                    return response
            self.sleep(self.backoff * 2 ** (attempt - 1))

    def same_origin(self, url: str) -> bool:
        """Whether `url` is on this server's scheme, host and port (both read one way only)."""
        mine, theirs = same_reading(self.base), same_reading(url)
        return mine is not None and theirs is not None and mine.origin == theirs.origin

    @staticmethod
    def answer(response: Any) -> dict[str, Any]:
        try:
            data = response.json() if response.content else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        if response.status_code >= 400:
            code = data.get("error_code") or f"HTTP {response.status_code}"
            message = data.get("message") or response.text[:300] or response.reason or ""
            raise MlflowApiError(response.status_code, str(code), str(message))
        return data


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
