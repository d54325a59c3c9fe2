"""A few MLflow model-registry REST calls made with `requests` alone, for API mode's read
paths (`status`, `list`), which must not import mlflow."""

from __future__ import annotations

from typing import Any

from hokusai_ci.errors import Category, HokusaiError
from hokusai_ci.redaction import display_url
from hokusai_ci.tracking import Tag


class RegistryRest:
    def __init__(self, uri: str, token: str | None, timeout: float = 30) -> None:
        self.base = uri.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        import requests

        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        url = f"{self.base}/api/2.0/mlflow/{path}"
        try:
            response = requests.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise HokusaiError(
                Category.MLFLOW_ERROR,
                f"cannot reach the model registry at {display_url(self.base)} ({exc.__class__.__name__}); "
                "check the MLflow URI and the network",
            ) from None
        if response.status_code in (401, 403):
            raise HokusaiError(
                Category.MLFLOW_ERROR,
                f"the model registry at {display_url(self.base)} refused the credentials (HTTP "
                f"{response.status_code}); check HOKUSAI_API_KEY",
            )
        if response.status_code >= 400:
            raise HokusaiError(
                Category.MLFLOW_ERROR,
                f"the model registry at {display_url(self.base)} answered HTTP {response.status_code} to {path}",
            )
        data: dict[str, Any] = response.json() if response.content else {}
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

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self._call(
            "POST", "model-versions/set-tag", json={"name": name, "version": version, "key": key, "value": value}
        )
