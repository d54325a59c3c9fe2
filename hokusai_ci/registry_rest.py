"""A few MLflow model-registry REST calls made with `requests` alone, for API mode's read
paths (`status`, `list`), which must not import mlflow.

In API mode this is also the preflight's first call through the platform's MLflow proxy, which
validates the API key before anything is written: its refusals (401 key, 402 balance, 403
REGISTRY_ADMIN_REQUIRED) are verdicts, exit 10, never retried. Every call here is idempotent
(a search, a set-tag), so 429, 502, 503 and dropped connections are retried within a small
budget, honouring Retry-After (the proxy answers 503 with `Retry-After: 1` while its key
service is slow); a platform 503 that outlasts them is its outage (exit 9, as for the
notification), and an answer that is not MLflow's JSON says the URL may not be an MLflow server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from hokusai_ci.errors import Category, HokusaiError
from hokusai_ci.http_retry import MAX_DELAY, backoff, retry_after_seconds
from hokusai_ci.platform_answers import detail, is_platform_answer, key_problem
from hokusai_ci.redaction import display_url, redact
from hokusai_ci.settings import Env
from hokusai_ci.tracking import Status, Tag

TRANSIENT = (429, 502, 503, 504)


def live_versions(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in versions if v["tags"].get(Tag.STATUS) != Status.SUPERSEDED]


def notified(version: dict[str, Any]) -> bool:
    return bool(version["tags"].get(Tag.NOTIFIED) == "true")


class RegistryRest:
    def __init__(
        self,
        uri: str,
        token: str | None,
        timeout: float = 30,
        *,
        attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        credential: str | None = None,
    ) -> None:
        self.base = uri.rstrip("/")
        self.token = token
        self.credential = credential  # the variable `token` came from, when it is not the API key
        self.timeout = timeout
        self.attempts = attempts
        self.sleep = sleep

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        import requests

        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        url = f"{self.base}/api/2.0/mlflow/{path}"
        where = f"the model registry at {display_url(self.base)}"
        for attempt in range(1, self.attempts + 1):
            try:
                response = requests.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
            except requests.RequestException as exc:
                if attempt < self.attempts:
                    self.sleep(backoff(attempt, 0.5))
                    continue
                raise HokusaiError(
                    Category.MLFLOW_ERROR,
                    f"cannot reach {where} ({exc.__class__.__name__}) after {attempt} attempt(s); "
                    "check the MLflow URI and the network",
                ) from None
            if response.status_code not in TRANSIENT or attempt == self.attempts:
                break
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            self.sleep(backoff(attempt, 0.5) if wait is None else min(wait, MAX_DELAY))
        return self._answer(response, path, where, attempt)

    def _answer(self, response: Any, path: str, where: str, attempts: int) -> dict[str, Any]:
        status = response.status_code
        if status < 400:
            return self._data(response, path, where)
        try:
            body = response.json()
        except ValueError:
            body = None
        secrets = (self.token,) if self.token else ()
        proxy = f"the Hokusai MLflow proxy at {display_url(self.base)}"
        if is_platform_answer(body):
            verdict = key_problem(status, body, proxy, secrets, self.credential)
            if verdict is not None:
                raise HokusaiError(Category.PLATFORM_REJECTED, verdict, http_status=status)
            if status in TRANSIENT:  # the platform's outage (its key service), as for the notification
                raise HokusaiError(
                    Category.EVENT_DELIVERY_FAILED,
                    f"{proxy} could not take the request: {detail(body, secrets)} (HTTP {status}) after "
                    f"{attempts} attempt(s); the platform's outage, nothing was uploaded: try again later",
                    http_status=status,
                )
        if status in (401, 403):
            raise HokusaiError(
                Category.MLFLOW_ERROR,
                f"{where} refused the credentials (HTTP {status}); check MLFLOW_TRACKING_TOKEN or "
                "MLFLOW_TRACKING_USERNAME/PASSWORD for that server",
            )
        said = f": {detail(body, secrets)}" if is_platform_answer(body) else ""
        retried = f" after {attempts} attempt(s)" if status in TRANSIENT else ""
        raise HokusaiError(
            Category.MLFLOW_ERROR,
            f"{where} answered HTTP {status} to {path}{said}{retried}",
        )

    def _data(self, response: Any, path: str, where: str) -> dict[str, Any]:
        """MLflow answers JSON objects; anything else is another kind of server at that URL."""
        try:
            data = response.json() if response.content else {}
        except ValueError:
            data = None
        if not isinstance(data, dict):
            kind = response.headers.get("Content-Type") or "no content type"
            raise HokusaiError(
                Category.MLFLOW_ERROR,
                f"{where} answered {path} with something that is not MLflow's JSON (HTTP {response.status_code}, "
                f"{kind}): is this an MLflow server? Check --mlflow-uri ({Env.MLFLOW_TRACKING_URI})",
            )
        return data

    def versions(self, filter_string: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page: str | None = None
        while True:
            params: dict[str, Any] = {"filter": filter_string, "max_results": 200}
            if page:
                params["page_token"] = page
            data = self._call("GET", "model-versions/search", params=params)
            for version in data.get("model_versions", []):
                version["tags"] = {t["key"]: t.get("value", "") for t in version.get("tags", [])}
                found.append(version)
            page = data.get("next_page_token")
            if not page:
                return found

    def token_versions(self, token_id: str | None = None) -> list[dict[str, Any]]:
        if token_id is None:
            return self.versions(f"tags.`{Tag.TOKEN}` LIKE '%'")
        return self.versions(f"tags.`{Tag.TOKEN}` = '{token_id}'")

    def accepted_versions(self, token_id: str) -> list[dict[str, Any]]:
        """The live versions of a token the platform accepted (tagged notified), oldest first."""
        accepted = [v for v in live_versions(self.token_versions(token_id)) if notified(v)]
        return sorted(accepted, key=lambda v: int(v["version"]))

    def delete_version_tag(self, name: str, version: str, key: str) -> None:
        self._call("DELETE", "model-versions/delete-tag", json={"name": name, "version": version, "key": key})

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        """Set one tag; its value goes through the redaction layer like every value written."""
        body = {"name": name, "version": version, "key": key, "value": redact(value)}
        self._call("POST", "model-versions/set-tag", json=body)
