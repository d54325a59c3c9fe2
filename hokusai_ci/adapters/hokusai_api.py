"""The hosted Hokusai API: the registration notification that moves a token on the site.

Contract (`POST {api}/api/models/tokenized-registration-events`, `Authorization: Bearer <key>`):
required `model_name`, `version` (a string: an integer is refused with 422), `token_id`,
`proposal_identifier`, `metric_name`, `baseline_value`, `mlflow_run_id`; optional
`current_value`, `model_uri`, `primary_metric`, `tags`; unknown fields are ignored. With
`primary_metric` (or `eval_spec`, `scorer_ref`, `benchmark_spec_id`) the server tags the version
in its own MLflow and answers 502 every time when it is not there: it is sent only when the
model lives in the platform's registry.

An accepted notification answers 200 with the platform's `model_id`. The platform has no read
endpoint, so what it accepted is recorded on the version at that moment (`PlatformAnswer`, tag
`hokusai.platform_answer`): the SHA-256 of the exact body sent and the `model_id`, which
`model verify` holds against the signed statement.

Answers: 401/402/403/422 are verdicts on the key or the body, final and never retried (exit 10).
The server is not idempotent (it ignores `Idempotency-Key`), so only failures it gives before
acting are retried: 503 (its key service, in front of the handler), 429 (its rate limiter,
honouring Retry-After up to the stall budget) and a connection that was never made. 502
`Failed to emit model registration event` can come after the site was told (its own rules are
predicted before anything is written, `platform_refusal`, but a failure after publishing answers
the same), as can a 500, a 504 or a lost answer: those are never retried. Exit 9; the version is
tagged `hokusai.platform_sent` before the request leaves, is never removed afterwards, and is the
only one that can be sent for the token again, with the same idempotency key.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hokusai_ci.adapters.http_retry import PostOutcome, RetryPolicy, post_with_retries
from hokusai_ci.adapters.platform_answers import detail, key_problem
from hokusai_ci.adapters.registry_rest import RegistryRest, notified
from hokusai_ci.config.redaction import display_url
from hokusai_ci.domain.errors import Category, HokusaiError, KeptVersion, PlatformError, VersionKeptError
from hokusai_ci.domain.events import compact_json
from hokusai_ci.domain.metrics import GateResult, platform_refusal
from hokusai_ci.domain.record import Registration
from hokusai_ci.ports.tracking import Tag

if TYPE_CHECKING:
    from hokusai_ci.domain.attestation import RegistrationPredicate

log = logging.getLogger("hokusai_ci")

NOTIFY_PATH = "/api/models/tokenized-registration-events"
MODEL_ID_MAX = 200  # longer is not an id: it is not recorded (a tag value stays small)
# answered before the server acts on the body: the key check (503) and the rate limiter (429)
BEFORE_ACTING = (429, 503)
# the optional fields the server tags the version with in its own MLflow
REGISTRY_FIELDS = ("primary_metric", "eval_spec", "scorer_ref", "benchmark_spec_id")
UNCONFIRMED = "unconfirmed"  # an error's `status`: another version was sent and not confirmed


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


def idempotency_key(payload: dict[str, Any]) -> str:
    """The one identity of a notification: every send of a version carries the same key."""
    return f"{payload['token_id']}:{payload['model_name']}:{payload['version']}"


def expected_model_id(model_name: str, version: str, token_id: str) -> str:
    """The `model_id` the server builds for an accepted registration."""
    return f"{model_name}/{version}/{token_id}"


class HokusaiApi:
    def __init__(
        self, api_url: str, api_key: str, *, attempts: int = 4, timeout: float = 30, wait_budget: float = 60
    ) -> None:
        self.url = api_url.rstrip("/") + NOTIFY_PATH
        self.api_key = api_key
        self.attempts = attempts
        self.timeout = timeout
        self.wait_budget = wait_budget  # the stall budget: the longest Retry-After waited for

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
                "Idempotency-Key": idempotency_key(payload),
            },
            attempts=self.attempts,
            timeout=self.timeout,
            policy=RetryPolicy(status=BEFORE_ACTING.__contains__, after_send=False, wait_budget=self.wait_budget),
        )
        if outcome.ok:
            answer = outcome.body if isinstance(outcome.body, dict) else {}
            return PlatformAnswer(body_sha256=hashlib.sha256(body).hexdigest(), model_id=platform_model_id(answer))
        verdict = outcome.status is not None and 400 <= outcome.status < 500 and outcome.status != 429
        category = Category.PLATFORM_REJECTED if verdict else Category.EVENT_DELIVERY_FAILED
        unseen = verdict or outcome.unsent or outcome.status in BEFORE_ACTING
        raise PlatformError(category, self.explain(outcome), maybe_told=not unseen)

    def explain(self, outcome: PostOutcome) -> str:
        """Turn the platform's answer into one actionable line with its own `detail`."""
        where = f"the Hokusai API at {display_url(self.url)}"
        body, status, tries = outcome.body, outcome.status, f"after {outcome.attempts} attempt(s)"
        said = detail(body, (self.api_key,))
        if status is None and outcome.unsent:
            return f"{where} could not be reached ({outcome.error}) {tries}; try again later"
        if status is None:
            return (
                f"{where} did not answer ({outcome.error}): the request was sent, and the platform may "
                "have told the site, so it is not sent again in this run"
            )
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
        if status == 429:
            return f"{where} is rate-limiting this key: {said} (HTTP 429) {tries}; {self._when(outcome)}"
        if status == 503:
            return (
                f"{where} could not take the registration: {said} (HTTP 503) {tries}; it answers this "
                "before looking at the registration (its key service), so it is treated as transient"
            )
        return (
            f"{where} answered: {said} (HTTP {status}); the platform answers this also after it told the "
            "site, so it is not sent again in this run"
        )

    def _when(self, outcome: PostOutcome) -> str:
        wait = outcome.retry_after
        if wait is None:
            return "try again in a minute"
        at = datetime.now(UTC) + timedelta(seconds=wait)
        longer = f", longer than the stall budget of {self.wait_budget:g}s" if wait > self.wait_budget else ""
        return f"it asks to wait {wait:g}s{longer}: re-run after {at:%H:%M:%S} UTC"


def registration_payload(token_id: str, r: Registration, *, in_platform_registry: bool = True) -> dict[str, Any]:
    """The notification body. The values are the ones measured and gated, never adjusted.
    `primary_metric` only when the version is in the platform's own registry (the server tags it
    there, and answers 502 every time when it cannot find it)."""
    body = {
        "model_name": r.model_name,
        "version": str(r.model_version),
        "token_id": token_id,
        "proposal_identifier": token_id,
        "metric_name": r.metric_name,
        "primary_metric": r.metric_name,
        "baseline_value": r.baseline,
        "current_value": r.metric_value,
        "mlflow_run_id": r.run_id,
        "model_uri": r.model_uri,
        "tags": {"sha256": r.sha256, "direction": r.direction, "source": "hokusai-ci"},
    }
    if not in_platform_registry:
        for name in REGISTRY_FIELDS:
            body.pop(name, None)
    return body


def signed_payload(p: RegistrationPredicate, *, in_platform_registry: bool = True) -> dict[str, Any]:
    """The notification a signed registration sends, rebuilt from its signed statement: the
    statement and the notification are made from the same values (registration.py)."""
    registration = Registration(
        model_name=p.model_name,
        model_version=p.model_version,
        model_uri=p.model_uri,
        run_id=p.mlflow_run_id,
        sha256=p.model_sha256,
        metric_name=p.metric.name,
        metric_value=p.metric.value,
        baseline=p.metric.baseline,
        direction=p.metric.direction,
    )
    return registration_payload(p.token_id, registration, in_platform_registry=in_platform_registry)


class HokusaiNotifier:
    """The platform port in API mode. The platform offers no compare-and-set, so a run first
    checks that no other version of the token was accepted (or sent without a confirmation),
    tags the version `hokusai.platform_sent` before the request leaves, notifies, then records
    what the platform accepted (`hokusai.platform_answer`) and its acceptance
    (`hokusai.notified=true`) on the version: API mode reads the token's state back from the
    latter, `model verify` checks both. The answer is written first, so a version never reads as
    accepted without it."""

    def __init__(self, api: HokusaiApi, registry: RegistryRest, *, in_platform_registry: bool = True) -> None:
        self.api = api
        self.registry = registry
        self.in_platform_registry = in_platform_registry

    def check(self, gate: GateResult) -> None:
        refusal = platform_refusal(gate)
        if refusal is not None:
            raise HokusaiError(Category.PLATFORM_REJECTED, refusal)

    def notify(self, token_id: str, registration: Registration) -> bool:
        r = registration
        payload = registration_payload(token_id, r, in_platform_registry=self.in_platform_registry)
        try:
            others = [
                v
                for v in self.registry.live_versions(token_id)
                if (v["name"], str(v["version"])) != (r.model_name, r.model_version)
            ]
            if any(notified(v) for v in others):
                return False
            _refuse_unconfirmed(token_id, r, others)
            if not self.in_platform_registry:
                log.info("MLflow is not the platform's registry: %s not sent", ", ".join(REGISTRY_FIELDS))
            key = idempotency_key(payload)
            self.registry.set_version_tag(r.model_name, r.model_version, Tag.PLATFORM_SENT, key)
            answer = self.api.notify(payload)
        except HokusaiError as err:
            raise self._kept(err, r) from None
        model_id = answer.model_id
        log.info("Hokusai API accepted the registration" + (f" (model_id {model_id})" if model_id else ""))
        try:
            self.registry.set_version_tag(r.model_name, r.model_version, Tag.PLATFORM_ANSWER, answer.tag_value())
            accepted_at = datetime.now(UTC).isoformat(timespec="seconds")
            self.registry.set_version_tag(r.model_name, r.model_version, Tag.ACCEPTED_AT, accepted_at)
            self.registry.set_version_tag(r.model_name, r.model_version, Tag.NOTIFIED, "true")
        except HokusaiError as err:
            log.warning("could not tag the version as notified (%s); a re-run would notify again", err.message)
        return True

    def _kept(self, err: HokusaiError, r: Registration) -> VersionKeptError:
        """The failure, saying what is left. A request the platform never acted on is forgotten
        (the version may be removed later); one it may have acted on keeps the version for good."""
        maybe_told = err.maybe_told if isinstance(err, PlatformError) else None
        told = maybe_told is True
        if maybe_told is False:
            try:
                self.registry.delete_version_tag(r.model_name, r.model_version, Tag.PLATFORM_SENT)
            except HokusaiError:
                told = True  # still tagged: it stays
        where = f"{r.model_name} version {r.model_version} stays in MLflow, tagged not registered"
        if told:
            tail = (
                f"; {where} and {Tag.PLATFORM_SENT}: it is never removed, and re-running the same command adopts "
                "it and sends the same registration with the same idempotency key (no other content can be "
                "registered for this token until then)"
            )
        elif err.status == UNCONFIRMED:
            tail = f"; {where}"
        else:
            tail = f"; {where}, and re-running the same command adopts it without a second upload"
        kept = KeptVersion(r.model_name, r.model_version, r.model_uri, r.run_id, r.sha256)
        return VersionKeptError(err.category, err.message + tail, kept, status=err.status)


def _refuse_unconfirmed(token_id: str, r: Registration, others: list[dict[str, Any]]) -> None:
    """Another version of the token was sent and never confirmed: the site may hold it, so no
    other version is sent (the site would hear of two) until that one is sent again."""
    sent = [v for v in others if v["tags"].get(Tag.PLATFORM_SENT)]
    if not sent:
        return
    v = min(sent, key=lambda v: int(v["version"]))
    sha = str(v["tags"].get(Tag.SHA256, ""))[:12]
    raise HokusaiError(
        Category.INVALID_TOKEN_STATUS,
        f"token {token_id}: {v['name']} version {v['version']} (sha256 {sha}) was sent to the Hokusai platform, "
        "which did not confirm it and may have told the site; only that version can be sent for the token: "
        f"re-run with the model it holds. Nothing was sent for {r.model_name} version {r.model_version}",
        status=UNCONFIRMED,
    )
