"""The hosted Hokusai API: the registration notification that moves a token on the site.

Contract (`POST {api}/api/models/tokenized-registration-events`, `Authorization: Bearer <key>`):
required `model_name`, `version` (a string: an integer is refused with 422), `token_id`,
`proposal_identifier`, `metric_name`, `baseline_value`, `mlflow_run_id`; optional
`current_value`, `model_uri`, `primary_metric`, `tags`; unknown fields are ignored.

An accepted notification answers 200 with the platform's `model_id`. The platform has no read
endpoint, so what it accepted is recorded on the version at that moment (`PlatformAnswer`, tag
`hokusai.platform_answer`): the SHA-256 of the exact body sent and the `model_id`, which
`model verify` holds against the signed statement.

Answers: 401/402/403/422 are verdicts on the key or the body, final and never retried (exit 10).
502 `Failed to emit model registration event` is both the platform's refusal by its own rules
and its outage; the refusals are predicted before anything is written (`platform_refusal`), so
a 502 that still comes back is treated as an outage, like 503, 429 and a dropped connection:
retried within a budget, honouring Retry-After, then exit 9 with the run resumable.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hokusai_ci.errors import Category, HokusaiError
from hokusai_ci.events import compact_json
from hokusai_ci.http_retry import PostOutcome, post_with_retries
from hokusai_ci.metrics import GateResult, platform_refusal
from hokusai_ci.platform_answers import detail, key_problem
from hokusai_ci.redaction import display_url
from hokusai_ci.registry_rest import RegistryRest
from hokusai_ci.store import Registration
from hokusai_ci.tracking import Tag

if TYPE_CHECKING:
    from hokusai_ci.attestation import RegistrationPredicate

log = logging.getLogger("hokusai_ci")

NOTIFY_PATH = "/api/models/tokenized-registration-events"
MODEL_ID_MAX = 200  # longer is not an id: it is not recorded (a tag value stays small)


class PlatformAnswer(BaseModel):
    """What the platform accepted, recorded on the version as tag `hokusai.platform_answer`
    (compact JSON): the SHA-256 of the exact body sent and the `model_id` it answered."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    body_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    model_id: str | None = Field(default=None, min_length=1, max_length=MODEL_ID_MAX)

    def tag_value(self) -> str:
        return compact_json(self.model_dump(exclude_none=True)).decode()

    @classmethod
    def from_tag(cls, value: str) -> PlatformAnswer:
        """The recorded answer; ValueError saying what is wrong with the tag's value."""
        try:
            return cls.model_validate_json(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"{where + ': ' if where else ''}{first['msg']}") from None


def body_sha256(payload: dict[str, Any]) -> str:
    """The digest of the notification's body as sent (compact JSON: the one wire serialization)."""
    return hashlib.sha256(compact_json(payload)).hexdigest()


def platform_model_id(answer: dict[str, Any]) -> str | None:
    """The `model_id` of an acceptance, when it is a usable id: a string or an integer of at
    most MODEL_ID_MAX printable characters. Anything else is not recorded."""
    raw = answer.get("model_id")
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        return None
    text = str(raw).strip()
    if not text or len(text) > MODEL_ID_MAX or not text.isprintable():
        return None
    return text


class HokusaiApi:
    def __init__(self, api_url: str, api_key: str, *, attempts: int = 4, timeout: float = 30) -> None:
        self.url = api_url.rstrip("/") + NOTIFY_PATH
        self.api_key = api_key
        self.attempts = attempts
        self.timeout = timeout

    def notify(self, payload: dict[str, Any]) -> PlatformAnswer:
        """Send the registration; on acceptance, what the platform accepted."""
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
            answer = outcome.body if isinstance(outcome.body, dict) else {}
            return PlatformAnswer(body_sha256=hashlib.sha256(body).hexdigest(), model_id=platform_model_id(answer))
        verdict = outcome.status is not None and 400 <= outcome.status < 500 and outcome.status != 429
        category = Category.PLATFORM_REJECTED if verdict else Category.EVENT_DELIVERY_FAILED
        raise HokusaiError(category, self.explain(outcome), http_status=outcome.status)

    def explain(self, outcome: PostOutcome) -> str:
        """Turn the platform's answer into one actionable line with its own `detail`."""
        where = f"the Hokusai API at {display_url(self.url)}"
        body, status, tries = outcome.body, outcome.status, f"after {outcome.attempts} attempt(s)"
        said = detail(body, (self.api_key,))
        if status is None:
            return f"{where} did not answer ({outcome.error}) {tries}; try again later"
        known = key_problem(status, body, where, (self.api_key,))
        if known is not None:
            return known
        if status == 403:
            return (
                f"{where} refused the API key: {said} (HTTP 403): the key lacks the model-write scope the "
                "platform requires to record a registration; use a key with the model:write scope"
            )
        if status == 422:
            return f"{where} refused the registration as invalid: {said} (HTTP 422)"
        if status in (429, 502, 503):
            return (
                f"{where} could not take the registration: {said} (HTTP {status}) {tries}; it answers "
                "this for its own outages, so it is treated as transient"
            )
        return f"{where} answered: {said} (HTTP {status}) {tries}"


def registration_payload(token_id: str, r: Registration) -> dict[str, Any]:
    """The notification body. The values are the ones measured and gated, never adjusted."""
    return {
        "model_name": r.model_name,
        "version": str(r.model_version),
        "token_id": token_id,
        "proposal_identifier": token_id,
        "metric_name": r.metric_name,
        "primary_metric": r.metric_name,
        "baseline_value": r.baseline,
        "current_value": r.metric_value,
        "mlflow_run_id": r.mlflow_run_id,
        "model_uri": r.model_uri,
        "tags": {"sha256": r.model_sha256, "direction": r.direction, "source": "hokusai-ci"},
    }


def signed_payload(p: RegistrationPredicate) -> dict[str, Any]:
    """The notification a signed registration sends, rebuilt from its signed statement: the
    statement and the notification are made from the same values (registration.py)."""
    registration = Registration(
        model_name=p.model_name,
        model_version=p.model_version,
        model_uri=p.model_uri,
        mlflow_run_id=p.mlflow_run_id,
        model_sha256=p.model_sha256,
        metric_name=p.metric.name,
        metric_value=p.metric.value,
        baseline=p.metric.baseline,
        direction=p.metric.direction,
    )
    return registration_payload(p.token_id, registration)


class HokusaiNotifier:
    """The platform port in API mode. The platform offers no compare-and-set, so a run first
    checks that no other version of the token was accepted, then notifies, then records what
    the platform accepted (`hokusai.platform_answer`) and its acceptance (`hokusai.notified=true`)
    on the version: API mode reads the token's state back from the latter, `model verify` checks
    both. The answer is written first, so a version never reads as accepted without it."""

    def __init__(self, api: HokusaiApi, registry: RegistryRest) -> None:
        self.api = api
        self.registry = registry

    def check(self, gate: GateResult) -> None:
        refusal = platform_refusal(gate)
        if refusal is not None:
            raise HokusaiError(Category.PLATFORM_REJECTED, refusal)

    def notify(self, token_id: str, registration: Registration) -> bool:
        r = registration
        try:
            others = [
                v
                for v in self.registry.accepted_versions(token_id)
                if (v["name"], str(v["version"])) != (r.model_name, r.model_version)
            ]
            if others:
                return False
            answer = self.api.notify(registration_payload(token_id, r))
        except HokusaiError as err:
            raise HokusaiError(
                err.category,
                f"{err.message}; {r.model_name} version {r.model_version} stays in MLflow, tagged not "
                "registered, and re-running the same command adopts it without a second upload",
                **err.details,
            ) from None
        model_id = answer.model_id
        log.info("Hokusai API accepted the registration" + (f" (model_id {model_id})" if model_id else ""))
        try:
            self.registry.set_version_tag(r.model_name, r.model_version, Tag.PLATFORM_ANSWER, answer.tag_value())
            self.registry.set_version_tag(r.model_name, r.model_version, Tag.NOTIFIED, "true")
        except HokusaiError as err:
            log.warning("could not tag the version as notified (%s); a re-run would notify again", err.message)
        return True
