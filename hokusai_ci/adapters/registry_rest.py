"""A few MLflow model-registry REST calls over the shared client (`mlflow_http`), for API mode's
read paths (`status`, `list`), which must not import mlflow.

In API mode this is also the preflight's first call through the platform's MLflow proxy, which
validates the API key before anything is written: its refusals (401 key, 402 balance, 403
REGISTRY_ADMIN_REQUIRED) are verdicts, exit 10, never retried. Every call here is idempotent
(a search, a set-tag), so 429, 502, 503 and dropped connections are retried within a small
budget, honouring Retry-After (the proxy answers 503 with `Retry-After: 1` while its key
service is slow); a platform 503 that outlasts them is its outage (exit 9, as for the
notification), and an answer that is not MLflow's JSON says the URL may not be an MLflow server.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from hokusai_ci.adapters.mlflow_errors import MlflowApiError, NotMlflowJson
from hokusai_ci.adapters.mlflow_http import HttpConfig, MlflowHttp
from hokusai_ci.adapters.platform_answers import detail, is_platform_answer, key_problem
from hokusai_ci.config.redaction import display_url, redact
from hokusai_ci.config.settings import Env
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.ports.tracking import Tag

TRANSIENT = frozenset({429, 502, 503, 504})


def registry_config(config: HttpConfig) -> HttpConfig:
    """The registry's retry budget: three attempts whatever MLflow's own retry setting, a
    shorter first backoff, a 500 final (an answer, not an outage), and the stall timeout for
    the connection too."""
    return replace(config, retries=2, backoff=0.5, connect_timeout=config.timeout, retry_status=TRANSIENT)


def notified(version: dict[str, Any]) -> bool:
    return bool(version["tags"].get(Tag.NOTIFIED) == "true")


class RegistryRest:
    """The registry's reads and tag writes over the shared client, with the platform's verdicts
    (`credential`: the variable the token came from, when it is not the API key)."""

    def __init__(self, http: MlflowHttp, *, credential: str | None = None) -> None:
        self.http = http
        self.base = http.base
        self.credential = credential

    @contextmanager
    def _answers(self) -> Iterator[None]:
        """The client's failures as this tool's errors, naming the registry and what to fix."""
        import requests

        where = f"the model registry at {display_url(self.base)}"
        try:
            yield
        except MlflowApiError as exc:
            raise self._refused(exc, where) from None
        except NotMlflowJson as exc:
            raise HokusaiError(
                Category.MLFLOW_ERROR,
                f"{where} answered {exc.path} with something that is not MLflow's JSON (HTTP {exc.status}, "
                f"{exc.content_type}): is this an MLflow server? Check --mlflow-uri ({Env.MLFLOW_TRACKING_URI})",
            ) from None
        except requests.RequestException as exc:
            raise HokusaiError(
                Category.MLFLOW_ERROR,
                f"cannot reach {where} ({exc.__class__.__name__}) after {self.http.retries + 1} attempt(s); "
                "check the MLflow URI and the network",
            ) from None

    def _refused(self, exc: MlflowApiError, where: str) -> HokusaiError:
        status, body, path, attempts = exc.status, exc.body, exc.path, exc.attempts
        token = self.http.config.token
        secrets = (token,) if token else ()
        proxy = f"the Hokusai MLflow proxy at {display_url(self.base)}"
        if is_platform_answer(body):
            verdict = key_problem(status, body, proxy, secrets, self.credential)
            if verdict is not None:
                return HokusaiError(Category.PLATFORM_REJECTED, verdict)
            if status in TRANSIENT:  # the platform's outage (its key service), as for the notification
                return HokusaiError(
                    Category.EVENT_DELIVERY_FAILED,
                    f"{proxy} could not take the request: {detail(body, secrets)} (HTTP {status}) after "
                    f"{attempts} attempt(s); the platform's outage, nothing was uploaded: try again later",
                )
        if status in (401, 403):
            return HokusaiError(
                Category.MLFLOW_ERROR,
                f"{where} refused the credentials (HTTP {status}); check MLFLOW_TRACKING_TOKEN or "
                "MLFLOW_TRACKING_USERNAME/PASSWORD for that server",
            )
        said = f": {detail(body, secrets)}" if is_platform_answer(body) else ""
        retried = f" after {attempts} attempt(s)" if status in TRANSIENT else ""
        return HokusaiError(Category.MLFLOW_ERROR, f"{where} answered HTTP {status} to {path}{said}{retried}")

    def live_versions(self, token_id: str | None = None) -> list[dict[str, Any]]:
        """A token's live versions (None: of every token), oldest first."""
        with self._answers():
            return self.http.live_versions(token_id)

    def accepted_versions(self, token_id: str) -> list[dict[str, Any]]:
        """The live versions of a token the platform accepted (tagged notified), oldest first."""
        return [v for v in self.live_versions(token_id) if notified(v)]

    def delete_version_tag(self, name: str, version: str, key: str) -> None:
        with self._answers():
            self.http.call("DELETE", "model-versions/delete-tag", json={"name": name, "version": version, "key": key})

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        """Set one tag; its value goes through the redaction layer like every value written."""
        body = {"name": name, "version": version, "key": key, "value": redact(value)}
        with self._answers():
            self.http.call("POST", "model-versions/set-tag", json=body)

    # -- aliases -----------------------------------------------------------------------------
    def version(self, name: str, version: str) -> dict[str, Any] | None:
        with self._answers():
            return self.http.version(name, version)

    def version_by_alias(self, name: str, alias: str) -> dict[str, Any] | None:
        with self._answers():
            return self.http.version_by_alias(name, alias)

    def alias_version(self, name: str, alias: str) -> str | None:
        """The version number `alias` names in the registry (None: not set)."""
        found = self.version_by_alias(name, alias)
        return None if found is None else str(found["version"])

    def aliases(self, name: str) -> dict[str, str]:
        """Every alias of the model and the version it names (empty: none, or no such model)."""
        from hokusai_ci.adapters.mlflow_errors import MlflowApiError

        try:
            with self._answers():
                data = self.http.call("GET", "registered-models/get", params={"name": name})
        except HokusaiError:
            return {}
        except MlflowApiError:  # pragma: no cover - `_answers` turns these into HokusaiError
            return {}
        found = (data.get("registered_model") or {}).get("aliases") or []
        return {str(a["alias"]): str(a["version"]) for a in found if "alias" in a and "version" in a}

    def set_alias(self, name: str, alias: str, version: str) -> None:
        """Point `alias` at `version`. Two first sets of an alias at once make MLflow answer HTTP
        400 (a unique-key violation) to one of them: the alias is then read back, and only a
        value other than `version` is a failure."""
        try:
            with self._answers():
                self.http.set_alias(name, alias, version)
            return
        except HokusaiError:
            if self.alias_version(name, alias) == version:
                return
        with self._answers():  # the other first set won the insert: now it is an update
            self.http.set_alias(name, alias, version)
