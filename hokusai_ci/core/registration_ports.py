"""What the registration use case works with and hands between its phases: the ports it is
given (store, tracker, notifier, sinks, signer) and what each phase established. Plain data,
so every phase's module can name it without importing the others."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hokusai_ci.domain.attestation import Attestation, Signer
from hokusai_ci.domain.events import ConsoleSink, EventSink
from hokusai_ci.domain.fingerprint import Fingerprint
from hokusai_ci.domain.metrics import GateResult
from hokusai_ci.domain.progress import ProgressSink
from hokusai_ci.domain.streaming import ModelSource
from hokusai_ci.ports.notifier import Notifier
from hokusai_ci.ports.store import EventRecord, TokenStore
from hokusai_ci.ports.tracking import TrackedModel, Tracker

DEFAULT_LEASE_SECONDS = 120


@dataclass
class Ports:
    store: TokenStore
    tracker: Callable[[], Tracker | None]
    progress: Callable[[str, int], ProgressSink]
    notifier: Notifier | None = None
    webhook: EventSink | None = None
    webhook_target: str | None = None
    console: EventSink = field(default_factory=ConsoleSink)
    ci_tags: dict[str, str] = field(default_factory=dict)
    lease_seconds: int = DEFAULT_LEASE_SECONDS
    store_retry_seconds: float = 60.0
    event_id: Callable[[str, str, str], str] | None = None  # (token, sha256, type) -> id; mock mode
    signer: Signer | None = None


@dataclass(frozen=True)
class Checked:
    """What the preflight established, nothing written yet."""

    gate: GateResult
    source: ModelSource  # the files, listed (not yet hashed)
    tracker: Tracker | None


@dataclass(frozen=True)
class Committed:
    tracked: TrackedModel
    fingerprint: Fingerprint  # the digests of what was registered
    events: list[EventRecord]
    attestation: Attestation | None = None
    earlier: tuple[TrackedModel, ...] = ()  # the token's versions found before the upload


@dataclass
class Attempt:
    """What this run has done so far, for the one place that reports how it ended."""

    committed: Committed | None = None  # set once the token store holds the registration
    release_note: str = ""  # why the token is not draft again after a failure, and what frees it
    told: TrackedModel | None = None  # the version the platform is being (or was) told of (API mode)
