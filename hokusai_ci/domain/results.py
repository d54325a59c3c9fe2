"""Result objects: what every presenter (text, JSON, GitHub outputs) renders.

Field names are a contract read by the Action and other CI systems; keep them stable.

Every command returns one of these with `error` set when it failed (see `commands.py`): the
faces render it and exit with its code, the Python API raises it as `api.CommandFailed`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, computed_field

from hokusai_ci.config.mode_choice import rules_of
from hokusai_ci.domain.attestation import Attestation, BaselineSource
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.measured.decision import MeasuredGate, basis
from hokusai_ci.domain.measured.paired_gate import PairedGate
from hokusai_ci.domain.metrics import Direction, GateResult, MetricSpec, gate
from hokusai_ci.ports.store import EventRecord, TokenRecord


class ErrorInfo(BaseModel):
    category: str
    title: str
    message: str
    exit_code: int

    @classmethod
    def of(cls, err: HokusaiError) -> ErrorInfo:
        return cls(category=err.category.slug, title=err.category.title, message=err.message, exit_code=err.exit_code)


class EventInfo(BaseModel):
    event_id: str
    event_type: str
    delivery_status: str
    attempts: int = 0
    last_error: str | None = None
    delivered_at: datetime | None = None

    @classmethod
    def of(cls, event: EventRecord) -> EventInfo:
        return cls(
            event_id=event.event_id,
            event_type=event.event_type,
            delivery_status=event.delivery_status.value,
            attempts=event.attempts,
            last_error=event.last_error,
            delivered_at=event.delivered_at,
        )


class RegistrationResult(BaseModel):
    status: Literal["registered", "dry_run", "gate_only", "error"] = "error"
    token_id: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    model_uri: str | None = None
    mlflow_run_id: str | None = None
    model_sha256: str | None = None
    model_bytes: int | None = None
    metric: GateResult | None = None
    measured: MeasuredGate | None = None  # the value measured from --predictions, its bound and verdict
    baseline_source: BaselineSource | None = None  # --baseline-from: the alias's version, or the flag
    alias: dict[str, Any] | None = None  # --set-alias: the move (promotion.AliasMoveResult)
    # --compare-with: the version compared with on the same rows, and the paired verdict
    compared_with: str | None = None
    paired: PairedGate | None = None
    # no ids joined the rows: why that version was compared unpaired, and the candidate's verdict
    # against its value (None when that value is the baseline already, --baseline-from)
    not_paired: str | None = None
    unpaired: MeasuredGate | None = None
    # which verdict decided the gate: the paired one whenever it was made, else the single-value
    # one(s) (`metric`/`measured` against the baseline, and `unpaired`)
    decided_by: Literal["single-value", "paired"] | None = None
    events: list[EventInfo] = []
    run_url: str | None = None
    version_url: str | None = None
    reused_existing_version: bool = False
    token_store: str | None = None
    mlflow_uri: str | None = None
    mode: str | None = None
    message: str | None = None
    attestation: Attestation | None = None
    error: ErrorInfo | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def simulated(self) -> bool:
        """Mock mode: nothing was uploaded or sent."""
        return rules_of(self.mode).simulated

    @property
    def exit_code(self) -> int:
        return 0 if self.error is None else self.error.exit_code


def failed_result(err: HokusaiError, *, token_id: str | None = None, mode: str | None = None) -> RegistrationResult:
    """The result of a registration that failed before the use case ran (input, settings)."""
    return RegistrationResult(status="error", token_id=token_id, mode=mode, error=ErrorInfo.of(err))


def output_fields(r: RegistrationResult) -> dict[str, str]:
    """Flat string fields for CI systems: GitHub step outputs (these names) and the GitLab dotenv
    report (HOKUSAI_ + upper snake case). Empty string when unknown."""
    m = r.metric

    def text(value: object) -> str:
        return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)

    return {
        "status": r.status,
        "token-id": text(r.token_id),
        "model-name": text(r.model_name),
        "model-version": text(r.model_version),
        "model-uri": text(r.model_uri),
        "run-id": text(r.mlflow_run_id),
        "metric": text(m.name if m else None),
        "metric-value": text(m.value if m else None),
        "baseline": text(m.baseline if m else None),
        "metric-bound": text(r.measured.bound if r.measured else None),
        "metric-basis": basis(r.measured, r.paired.decision if r.paired else None) if m else "",
        "delta": text(m.delta if m else None),
        "passed": text(m.passed if m else None),
        "model-sha256": text(r.model_sha256),
        "attestation-path": text(r.attestation.uri if r.attestation else None),
        "attestation-sha256": text(r.attestation.sha256 if r.attestation else None),
        "error-category": text(r.error.category if r.error else None),
    }


class AliasMove(BaseModel):
    """One move in an alias's history (an `alias_moved` event of the outbox). `to_version` None:
    the alias was no longer set in MLflow (its version deleted there) and the store took that."""

    moved_at: datetime
    model_name: str
    alias: str
    from_version: str | None
    to_version: str | None
    token_id: str
    command: str
    run_url: str | None = None
    commit: str | None = None
    delivery_status: str


class TokenView(BaseModel):
    """A token as `status` and `list` show it; `metric` is the same object `register` reports."""

    token_id: str
    status: str
    model_name: str | None = None
    model_version: str | None = None
    model_uri: str | None = None
    mlflow_run_id: str | None = None
    model_sha256: str | None = None
    metric: GateResult | None = None
    created_at: datetime | None  # null when only the Hokusai site knows it (API mode)
    registered_at: datetime | None = None
    lease_expires_at: datetime | None = None
    events: list[EventInfo] | None = None
    alias_moves: list[AliasMove] | None = None  # `status`: every alias move of the token's model
    simulated: bool = False

    @classmethod
    def of(cls, token: TokenRecord, events: list[EventRecord] | None = None, *, simulated: bool = False) -> TokenView:
        return cls(
            token_id=token.token_id,
            status=token.status.value,
            model_name=token.model_name,
            model_version=token.model_version,
            model_uri=token.model_uri,
            mlflow_run_id=token.run_id,
            model_sha256=token.sha256,
            metric=_recorded_gate(token),
            created_at=token.created_at,
            registered_at=token.registered_at,
            lease_expires_at=token.lease_expires_at,
            events=None if events is None else [EventInfo.of(e) for e in events],
            simulated=simulated,
        )


def _recorded_gate(token: TokenRecord) -> GateResult | None:
    """The gate as it was passed, recomputed from the recorded name, value, baseline and
    direction (no range check: the record was validated when it was written)."""
    if token.metric_name is None or token.metric_value is None or token.baseline is None or token.direction is None:
        return None
    metric = MetricSpec(token.metric_name, Direction(token.direction), None, None, "")
    return gate(metric, token.metric_value, token.baseline)


class Outcome(BaseModel):
    """A command's result whose JSON on success is its `payload()` alone (no `error` key): what
    `model status`, `model list`, `token create|release` and `events replay` print."""

    error: ErrorInfo | None = None

    @property
    def exit_code(self) -> int:
        return 0 if self.error is None else self.error.exit_code

    @classmethod
    def of_error(cls, err: HokusaiError) -> Self:
        """The result of a command that failed before it knew anything else."""
        return cls(error=ErrorInfo.of(err))

    def payload(self) -> Any:
        """What `--output json` prints on success; on failure what is still known (None: nothing)."""
        raise NotImplementedError


class TokenResult(Outcome):
    """`model status` and `token create`: the token."""

    token: TokenView | None = None

    def payload(self) -> Any:
        return None if self.token is None else self.token.model_dump(mode="json")


class TokenListResult(Outcome):
    """`model list`: a JSON array of tokens."""

    tokens: list[TokenView] | None = None

    def payload(self) -> Any:
        return None if self.tokens is None else [t.model_dump(mode="json") for t in self.tokens]


class ReleaseResult(BaseModel):
    token_id: str
    released: bool
    claim_id: str | None
    lease_expires_at: datetime | None
    lease_was_live: bool
    message: str


class ReleaseOutcome(Outcome):
    """`token release`: the claim that was released."""

    release: ReleaseResult | None = None

    def payload(self) -> Any:
        return None if self.release is None else self.release.model_dump(mode="json")


class ReplayResult(BaseModel):
    status: str
    webhook: str | None
    delivered: int
    failed: int
    events: list[EventInfo]


class ReplayOutcome(Outcome):
    """`events replay`: what was delivered; a failed delivery keeps its counts in the JSON."""

    replay: ReplayResult | None = None

    def payload(self) -> Any:
        return None if self.replay is None else self.replay.model_dump(mode="json")


class AliasMoveResult(BaseModel):
    """What `promote`, `rollback` and `register --set-alias` did to an alias. `unchanged`: it
    already named the version asked for, so nothing was moved (`from_version` equals
    `to_version`; `moved_at`, `token_id`, `run_url`, `commit` are of the move that set it there)."""

    status: Literal["moved", "unchanged"] = "moved"
    command: str
    model_name: str
    alias: str
    from_version: str | None
    to_version: str
    token_id: str
    moved_at: datetime
    run_url: str | None = None
    commit: str | None = None
    events: list[EventInfo] = []
    message: str


class AliasMoveOutcome(Outcome):
    """`model promote` and `model rollback`: the move made; a refusal because the alias is not on
    the version expected (exit 15) names the version it is on as `found_version` (null: not set),
    so a script can retry from there without reading the message."""

    move: AliasMoveResult | None = None
    found_version: str | None = None

    @classmethod
    def of_error(cls, err: HokusaiError) -> Self:
        # by its attribute: a test that re-imports the package must not turn a refusal into "not set"
        found = getattr(err, "found", None)
        return cls(error=ErrorInfo.of(err), found_version=found)

    def payload(self) -> Any:
        if self.move is not None:
            return self.move.model_dump(mode="json")
        if self.error is not None and self.error.category == Category.ALIAS_MOVED.slug:
            return {"status": "error", "found_version": self.found_version}
        return None


class AliasNow(BaseModel):
    """An alias as MLflow names it now beside the token store's record (`model history
    --mlflow-uri`); None: not set there."""

    alias: str
    in_mlflow: str | None
    in_store: str | None

    @property
    def agree(self) -> bool:
        return self.in_mlflow == self.in_store


class AliasHistoryResult(Outcome):
    """`model history`: a JSON array of alias moves, oldest first. `now` (with --mlflow-uri):
    each alias in MLflow beside the store, shown in the text and, where they disagree, warned
    on stderr (as is MLflow being unreadable, `mlflow_unread`); the JSON stays the array of moves."""

    moves: list[AliasMove] | None = None
    now: list[AliasNow] | None = None
    mlflow_unread: str | None = None  # why MLflow could not be read: `now` is left out, the moves stand

    def payload(self) -> Any:
        return None if self.moves is None else [m.model_dump(mode="json") for m in self.moves]
