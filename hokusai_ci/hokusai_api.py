"""The hosted Hokusai API: the registration notification that moves a token on the site.

Contract (`POST {api}/api/models/tokenized-registration-events`, `Authorization: Bearer <key>`):
required `model_name`, `version` (string), `token_id`, `proposal_identifier`, `metric_name`,
`baseline_value`, `mlflow_run_id`; optional `model_uri`, `tags`, `current_value`.
"""

from __future__ import annotations

from typing import Any

from hokusai_ci.errors import Category, HokusaiError
from hokusai_ci.http_retry import PostOutcome, post_with_retries
from hokusai_ci.redaction import display_url

NOTIFY_PATH = "/api/models/tokenized-registration-events"


class HokusaiApi:
    def __init__(self, api_url: str, api_key: str, *, attempts: int = 4, timeout: float = 30) -> None:
        self.url = api_url.rstrip("/") + NOTIFY_PATH
        self.api_key = api_key
        self.attempts = attempts
        self.timeout = timeout

    def notify(self, payload: dict[str, Any]) -> dict[str, Any]:
        from hokusai_ci.events import compact_json

        body = compact_json(payload)
        outcome = post_with_retries(
            self.url,
            body,
            lambda: {
                "Authorization": f"Bearer {self.api_key}",
                "Content-Type": "application/json",
                "User-Agent": "hokusai-ci",
                "Idempotency-Key": f"{payload['token_id']}:{payload['model_name']}:{payload['version']}",
            },
            attempts=self.attempts,
            timeout=self.timeout,
        )
        if outcome.ok:
            return outcome.body if isinstance(outcome.body, dict) else {}
        raise HokusaiError(Category.EVENT_DELIVERY_FAILED, self.explain(outcome), http_status=outcome.status)

    def explain(self, outcome: PostOutcome) -> str:
        """Turn the platform's error shapes into one actionable line."""
        where = display_url(self.url)
        body = outcome.body if isinstance(outcome.body, dict) else {}
        status = outcome.status
        if status is None:
            return f"the Hokusai API did not answer ({outcome.error}) after {outcome.attempts} attempt(s)"
        if status == 401:
            return (
                f"the Hokusai API rejected the API key ({body.get('detail', 'unauthorized')}); "
                "check HOKUSAI_API_KEY or create a new key on the site"
            )
        if status == 403 and body.get("error") == "REGISTRY_ADMIN_REQUIRED":
            return "the API key lacks model registry rights (REGISTRY_ADMIN_REQUIRED); use a key of a registry admin"
        if status == 403:
            scope = body.get("required_scope")
            return f"the API key lacks the {scope!r} scope" if scope else "the API key is not allowed to register"
        if status == 402:
            return "the Hokusai account balance is too low to register (HTTP 402); top it up on the site"
        if status == 422:
            return f"the Hokusai API refused the registration as invalid: {_validation(body)}"
        if status in (429, 503):
            return f"the Hokusai API is busy (HTTP {status}) after {outcome.attempts} attempt(s); try again later"
        if status == 502:
            detail = body.get("detail", "bad gateway")
            return (
                f"the Hokusai API could not emit the registration event ({detail}) after {outcome.attempts} attempt(s)"
            )
        return f"{where} answered HTTP {status} after {outcome.attempts} attempt(s)"


def _validation(body: dict[str, Any]) -> str:
    detail = body.get("detail")
    if isinstance(detail, list):
        parts = []
        for item in detail[:3]:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item.get('msg', 'invalid')}")
        return "; ".join(parts) or "validation error"
    return str(detail or "validation error")
