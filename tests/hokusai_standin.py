"""A stand-in for the hosted Hokusai API, the one thing in API mode with no real counterpart here.

It is a FastAPI app served by uvicorn on 127.0.0.1, like the upstream server (the FastAPI app
of Hokusai-protocol/hokusai-data-pipeline), rewritten here to answer exactly as that server
does on the paths hokusai-ci uses:

- no key / an unknown key: 401 `API key required` / `Invalid or expired API key`;
- the key service slow or down: 503 `Authentication service timeout` / `... unavailable`, with
  `Retry-After: 1`;
- `/api/mlflow/...` with a key that is not a registry admin's: 403 `{"detail": "Admin access
  required for the model registry", "error": "REGISTRY_ADMIN_REQUIRED"}`; otherwise proxied to
  the real `mlflow server` (registry calls are not billed: no balance check there);
- elsewhere, a key whose balance is too low: 402 `Insufficient balance`;
- the notification with a key without a write scope: 403 `Insufficient permissions for model
  registration events`; a body its schema refuses (`version` an integer, ...): 422 with
  FastAPI's `detail` list; unknown fields: ignored;
- a notification its validator refuses (a metric outside its list or range, a non-positive
  baseline for an error metric, `current_value < baseline_value` for any metric, whatever the
  direction) or sent while its event publisher is down: 502 `Failed to emit model registration
  event`, nothing delivered;
- a baseline of 0 that passes the validator: `model_registered` is delivered to the site (recorded
  in `emitted`), then the server fails dividing by the baseline in its own log line: the same 502;
- `primary_metric`, `eval_spec`, `scorer_ref` or `benchmark_spec_id` sent: the server tags the
  version in its own MLflow (the one behind `/api/mlflow`) first; a version it cannot find there
  (the model lives in another MLflow) answers that 502 every time, nothing delivered.

Its rate limiter, in front of the notification: 429 `{"error": "Rate limit exceeded"}` with
`Retry-After` (no `detail`). The server ignores `Idempotency-Key`: every request it acts on
is a delivery.

Keys are validated by a separate `KeyService` (a real HTTP server, as upstream calls an external
key service), so "slow" and "down" are real stalls and a real stopped server. Every request is
recorded in `seen`, so tests can prove a verdict was not retried. Two knobs stand for what only
the platform's internals decide: `publisher_failures` (the next N emits fail, as when its queue
is down), `lost_answers` (the next N emits are delivered, then the handler fails: 502),
`rate_limited` (the next N requests answer 429 with `Retry-After: retry_after`), `require`
(fields a stricter platform version would require, to produce a 422) and `model_id` (what an
acceptance answers as the platform's id).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated, Any, Self

import requests
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from starlette.concurrency import run_in_threadpool

from tests.servers import Receiver, free_port

NOTIFY_PATH = "/api/models/tokenized-registration-events"
PROXY_PREFIX = "/api/mlflow"
EMIT_FAILED = "Failed to emit model registration event"
WRITE_SCOPES = {"model:write", "mlflow:write", "mlflow:access", "admin", "mlflow:admin", "write", "full_access"}
REGISTRY_ADMIN_SCOPES = {"admin", "mlflow:admin", "registry:admin", "model-registry:admin"}
# upstream src/validation/metrics.py: the metrics it knows and their ranges
RANGES: dict[str, tuple[float | None, float | None]] = {
    **dict.fromkeys(("accuracy", "auroc", "auc", "f1", "precision", "recall"), (0.0, 1.0)),
    **dict.fromkeys(("mse", "rmse", "mae"), (0.0, None)),
    "r2": (None, 1.0),
    **dict.fromkeys(("reply_rate", "conversion_rate"), (0.0, 1.0)),
    "engagement_score": (0.0, None),
}


# -- the external key service -------------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    scopes: tuple[str, ...]
    is_admin: bool = False
    sufficient_balance: bool = True


@dataclass
class KeyService(Receiver):
    """`POST /api/v1/keys/validate` with the key as bearer: 200 with the key's rights, or 401.
    `stall(n, seconds)` makes the next n validations answer only after `seconds`."""

    keys: dict[str, Key] = field(default_factory=dict)
    stalls: int = 0
    stall_seconds: float = 0.0

    @property
    def url(self) -> str:
        return self.base_url

    def start(self) -> Self:
        super().start()
        assert self.server is not None
        self.server.handle_error = lambda *args: None  # type: ignore[method-assign]  # a caller that timed out
        return self

    def stall(self, n: int, seconds: float) -> None:
        self.stalls, self.stall_seconds = n, seconds

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        if self.stalls > 0:
            self.stalls -= 1
            time.sleep(self.stall_seconds)
        key = self.keys.get(headers.get("Authorization", "").removeprefix("Bearer "))
        if path != "/api/v1/keys/validate" or key is None:
            return 401, {"detail": "Invalid API key"}, {}
        return (
            200,
            {
                "user_id": "user-1",
                "key_id": "key-1",
                "scopes": list(key.scopes),
                "is_admin": key.is_admin,
                "has_sufficient_balance": key.sufficient_balance,
                "balance": 10.0 if key.sufficient_balance else 0.0,
            },
            {},
        )


# -- the notification's schema and validator -------------------------------------------------------
class RegistrationEvent(BaseModel):
    """Upstream `TokenizedRegistrationEventRequest`: unknown fields ignored, strings strict."""

    model_config = ConfigDict(extra="ignore")

    model_name: str = Field(..., min_length=1)
    version: str = Field(..., min_length=1)
    token_id: str = Field(..., min_length=1)
    proposal_identifier: str = Field(..., min_length=1)
    metric_name: str = Field(..., min_length=1)
    baseline_value: float
    mlflow_run_id: str = Field(..., min_length=1)
    current_value: float | None = None
    model_uri: str | None = None
    eval_spec: str | None = Field(default=None, max_length=500)
    scorer_ref: str | None = Field(default=None, max_length=500)
    primary_metric: str | None = Field(default=None, max_length=500)
    benchmark_spec_id: str | None = Field(default=None, max_length=500)
    api_schema: dict[str, Any] | None = None
    tags: dict[str, str] | None = None

    @field_validator(
        "model_name", "version", "token_id", "proposal_identifier", "metric_name", "mlflow_run_id", mode="before"
    )
    @classmethod
    def _non_empty_string(cls, value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be a non-empty string")
        return value.strip()

    @field_validator("model_uri", "eval_spec", "scorer_ref", "primary_metric", "benchmark_spec_id", mode="before")
    @classmethod
    def _optional_string(cls, value: object, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{info.field_name} must be a non-empty string when provided")
        return value.strip()

    @field_validator("baseline_value", "current_value")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


def _in_range(name: str, value: float) -> bool:
    if name.lower() not in RANGES:
        return False
    lo, hi = RANGES[name.lower()]
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def hook_accepts(metric_name: str, baseline: float, current: float) -> bool:
    """Upstream `ModelRegistryHooks.on_model_registered_with_baseline`, before publishing:
    the metric's range for both values, a positive baseline for error metrics, and
    `current < baseline` refused for every metric, whatever its direction."""
    name = metric_name.lower()
    if not _in_range(name, baseline) or not _in_range(name, current):
        return False
    if name in ("mse", "rmse", "mae") and baseline <= 0:
        return False
    return current >= baseline


def completes(metric_name: str, baseline: float, current: float) -> bool:
    """Whether a notification with these values ends in 200: the validator accepts it and the
    log line after publishing does not divide by a zero baseline."""
    return hook_accepts(metric_name, baseline, current) and baseline != 0


REGISTRY_FIELDS = ("primary_metric", "eval_spec", "scorer_ref", "benchmark_spec_id")


def require_write(request: Request) -> list[str]:
    """Upstream `require_model_event_write_auth`: a dependency, so it runs before the body's
    validation and after the key's."""
    scopes: list[str] = request.state.scopes
    if not set(scopes) & WRITE_SCOPES:
        raise HTTPException(403, "Insufficient permissions for model registration events")
    return scopes


WriteAuth = Annotated[list[str], Depends(require_write)]


# -- the API ---------------------------------------------------------------------------------------
@dataclass
class Seen:
    method: str
    path: str
    status: int
    at: float
    body: bytes = b""
    idempotency_key: str | None = None


@dataclass
class HokusaiStandIn:
    mlflow_url: str
    key_service: KeyService
    auth_timeout: float = 0.5
    seen: list[Seen] = field(default_factory=list)
    emitted: list[dict[str, Any]] = field(default_factory=list)
    publisher_failures: int = 0
    lost_answers: int = 0
    rate_limited: int = 0
    retry_after: int = 60
    require: tuple[str, ...] = ()
    model_id: str | None = None  # the `model_id` an acceptance answers (default: name/version/token)
    port: int = 0
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mlflow_proxy_url(self) -> str:
        return self.url + PROXY_PREFIX

    def notifications(self) -> list[Seen]:
        return [s for s in self.seen if s.path == NOTIFY_PATH]

    def proxied(self) -> list[Seen]:
        return [s for s in self.seen if s.path.startswith(PROXY_PREFIX)]

    def start(self) -> Self:
        self.port = free_port()
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="hokusai-standin", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the Hokusai stand-in did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    # -- key validation, as upstream's APIKeyAuthMiddleware -------------------------------------
    def _validate(self, key: str) -> tuple[str, dict[str, Any]]:
        """("ok", rights) | ("invalid", {}) | ("unavailable", {"detail": ...})."""
        try:
            answer = requests.post(
                f"{self.key_service.url}/api/v1/keys/validate",
                headers={"Authorization": f"Bearer {key}"},
                json={"service_id": "platform"},
                timeout=self.auth_timeout,
            )
        except requests.Timeout:
            return "unavailable", {"detail": "Authentication service timeout"}
        except requests.RequestException:
            return "unavailable", {"detail": "Authentication service unavailable"}
        if answer.status_code == 200:
            return "ok", answer.json()
        if answer.status_code == 401:
            return "invalid", {}
        return "unavailable", {"detail": "Authentication service error"}

    async def _authenticate(self, request: Request) -> Response | None:
        auth = request.headers.get("authorization", "")
        key = auth[7:] if auth.startswith(("Bearer ", "ApiKey ")) else request.headers.get("x-api-key")
        if not key:
            return JSONResponse({"detail": "API key required"}, status_code=401)
        outcome, rights = await run_in_threadpool(self._validate, key)
        if outcome == "unavailable":
            return JSONResponse(rights, status_code=503, headers={"Retry-After": "1"})
        if outcome == "invalid":
            return JSONResponse({"detail": "Invalid or expired API key"}, status_code=401)
        registry = request.url.path.lower().startswith(PROXY_PREFIX)
        admin = rights["is_admin"] or bool(set(rights["scopes"]) & REGISTRY_ADMIN_SCOPES)
        if registry and not admin:
            return JSONResponse(
                {"detail": "Admin access required for the model registry", "error": "REGISTRY_ADMIN_REQUIRED"},
                status_code=403,
            )
        if not registry and not rights["has_sufficient_balance"]:
            return JSONResponse({"detail": "Insufficient balance"}, status_code=402)
        request.state.scopes = rights["scopes"]
        return None

    def _rate_limit(self) -> Response | None:
        with self._lock:
            if self.rate_limited <= 0:
                return None
            self.rate_limited -= 1
        headers = {"Retry-After": str(self.retry_after)}
        return JSONResponse({"error": "Rate limit exceeded"}, status_code=429, headers=headers)

    def _tag_in_own_registry(self, payload: RegistrationEvent) -> bool:
        """Upstream tags the version with the registry fields in its own MLflow; False when
        that MLflow does not hold the version."""
        tags = {name: getattr(payload, name) for name in REGISTRY_FIELDS if getattr(payload, name) is not None}
        for key, value in tags.items():
            answer = requests.post(
                f"{self.mlflow_url}/api/2.0/mlflow/model-versions/set-tag",
                json={"name": payload.model_name, "version": payload.version, "key": key, "value": value},
                timeout=30,
            )
            if answer.status_code != 200:
                return False
        return True

    def app(self) -> FastAPI:
        app = FastAPI()
        standin = self

        @app.middleware("http")
        async def auth(request: Request, call_next: Any) -> Response:
            body = await request.body() if request.url.path == NOTIFY_PATH else b""
            limited = standin._rate_limit() if request.url.path == NOTIFY_PATH else None
            refused = limited or await standin._authenticate(request)
            response: Response = refused if refused is not None else await call_next(request)
            key = request.headers.get("idempotency-key")
            with standin._lock:
                standin.seen.append(
                    Seen(request.method, request.url.path, response.status_code, time.monotonic(), body, key)
                )
            return response

        @app.exception_handler(RequestValidationError)
        async def invalid(request: Request, exc: RequestValidationError) -> Response:
            response = await request_validation_exception_handler(request, exc)
            response.headers["X-Request-ID"] = "standin-request"
            return response

        @app.post(NOTIFY_PATH)
        def notify(payload: RegistrationEvent, _: WriteAuth) -> dict[str, Any]:
            missing = [name for name in standin.require if name not in payload.model_fields_set]
            if missing:
                raise RequestValidationError(
                    [
                        {"type": "missing", "loc": ("body", name), "msg": "Field required", "input": None}
                        for name in missing
                    ]
                )
            current = payload.current_value if payload.current_value is not None else payload.baseline_value
            if not hook_accepts(payload.metric_name, payload.baseline_value, current):
                raise HTTPException(502, EMIT_FAILED)
            if not standin._tag_in_own_registry(payload):
                raise HTTPException(502, EMIT_FAILED)
            with standin._lock:
                if standin.publisher_failures > 0:
                    standin.publisher_failures -= 1
                    raise HTTPException(502, EMIT_FAILED)
                standin.emitted.append(payload.model_dump(exclude_unset=True))
            if payload.baseline_value == 0:  # upstream: the log line after publishing divides by it
                raise HTTPException(502, EMIT_FAILED)
            with standin._lock:
                if standin.lost_answers > 0:
                    standin.lost_answers -= 1
                    raise HTTPException(502, EMIT_FAILED)
            model_id = standin.model_id or f"{payload.model_name}/{payload.version}/{payload.token_id}"
            return {
                "status": "ok",
                "model_id": model_id,
                "model_name": payload.model_name,
                "version": payload.version,
                "event_emitted": True,
                "detail": None,
            }

        @app.api_route(PROXY_PREFIX + "/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"])
        async def proxy(request: Request, path: str) -> Response:
            body = await request.body()
            headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
            target = f"{standin.mlflow_url}/{path}"
            answer = await run_in_threadpool(
                requests.request,
                request.method,
                target,
                params=list(request.query_params.multi_items()),
                data=body,
                headers=headers,
                timeout=60,
                allow_redirects=False,
            )
            dropped = ("transfer-encoding", "content-encoding", "content-length", "connection")
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in dropped}
            return Response(answer.content, status_code=answer.status_code, headers=kept)

        return app
