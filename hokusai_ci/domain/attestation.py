"""The registration statement: what hokusai-ci signs about a registration, and where it is kept.

An in-toto Statement v1 whose subjects are the model (with the digest hokusai-ci records as
`hokusai.sha256`) and the model signature bundle, and whose predicate (our own type, with a
published JSON Schema versioned like the event schemas) says what was registered, from which
commit, and why it passed the gate. Light on purpose: no signing library is imported here.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, PrivateAttr

from hokusai_ci.config.redaction import without_credentials
from hokusai_ci.domain.fingerprint import Fingerprint

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_VERSION = "1"
PREDICATE_TYPE = f"https://hokus.ai/attestation/registration/v{PREDICATE_VERSION}"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
SCHEMA_NAME = f"registration_attestation.v{PREDICATE_VERSION}.schema.json"

# Where the bundles live among the run's artifacts: next to `model/`, never inside it, so the
# model's own file list (and its signature) is exactly what the user registered.
ATTESTATION_DIR = "hokusai"
MODEL_SIGNATURE_FILE = "model.sigstore.json"  # OpenSSF model_signing's format
REGISTRATION_FILE = "registration.sigstore.json"  # the registration statement
MODEL_SIGNATURE_SUBJECT = "model-signature"


def attestation_folder(artifact_uri: str) -> str:
    """The bundles' folder as tags, events and outputs name it: the run's artifact root without
    the credentials a store URI may carry (written by the trackers, checked by verify)."""
    return f"{without_credentials(artifact_uri)}/{ATTESTATION_DIR}"


SignMethod = Literal["key", "keyless"]


class Metric(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    value: float
    baseline: float
    direction: str
    delta: float
    passed: bool


class Provenance(BaseModel):
    """The CI context the run collected (empty outside CI)."""

    model_config = ConfigDict(extra="forbid")

    system: str | None = None
    repository: str | None = None
    commit: str | None = None
    ref: str | None = None
    workflow: str | None = None
    run_url: str | None = None


class BaselineSource(BaseModel):
    """Where a registration's baseline came from: an alias's version (its metric value and
    evaluation digest), or `--baseline` when no version holds the alias yet."""

    source: Literal["alias", "flag"]
    alias: str
    model_name: str
    version: str | None = None
    value: float
    metric: str | None = None
    # the content digest of the evaluation rows the holder was measured on (measured gate)
    evaluation_sha256: str | None = None
    # the holder keeps its predictions (the measured gate stores them): a measured candidate on
    # the same rows is compared with it pairwise; not part of the signed record
    _evidence_stored: bool = PrivateAttr(default=False)
    # which way the holder was gated (`higher`/`lower`, its `hokusai.direction` tag): a candidate
    # gated the other way would beat it by being worse; not part of the signed record
    _direction: str | None = PrivateAttr(default=None)

    @property
    def pairable(self) -> bool:
        return self.source == "alias" and self._evidence_stored and self.evaluation_sha256 is not None

    @property
    def direction(self) -> str | None:
        return self._direction

    def with_stored_evidence(self, stored: bool, direction: str | None = None) -> BaselineSource:
        self._evidence_stored, self._direction = stored, direction
        return self


class RegistrationPredicate(BaseModel):
    """What a signed registration says. Field names are a contract: add, never rename."""

    model_config = ConfigDict(extra="forbid")

    token_id: str
    model_name: str
    model_version: str
    model_uri: str
    mlflow_run_id: str
    model_sha256: str
    model_layout: Literal["file", "directory"]
    model_files: int
    model_bytes: int
    model_signature_sha256: str
    metric: Metric
    metrics_file_sha256: str | None
    # the measured gate (--predictions): the bound the verdict used, its basis, the evidence digests
    metric_bound: float | None = None
    metric_basis: str | None = None
    evidence_sha256: str | None = None
    baseline_source: BaselineSource | None = None  # --baseline-from: the alias's version the baseline is
    evaluation_sha256: str | None = None  # the evaluation rows' content, for a paired comparison later
    metric_threshold: float | None = None  # the threshold a threshold metric's scores were counted at
    ci: Provenance
    signing_method: SignMethod
    tool: str
    tool_version: str
    registered_at: datetime


class Attestation(BaseModel):
    """Where a registration's signed statement is stored, and its digest."""

    uri: str
    sha256: str
    model_signature_sha256: str
    method: SignMethod


class Signer(Protocol):
    """Signs a registration: a model signature in model_signing's format, then a statement."""

    method: SignMethod

    def sign_model(self, fp: Fingerprint) -> bytes:
        """The model_signing bundle (JSON bytes) over the model's files, as uploaded."""

    def sign_statement(self, statement: bytes) -> bytes:
        """A Sigstore bundle (JSON bytes) holding the statement in a DSSE envelope."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dsse_pae(payload: bytes, payload_type: str = PAYLOAD_TYPE) -> bytes:
    """DSSE v1's pre-authentication encoding, the bytes a DSSE signature covers
    (https://github.com/secure-systems-lab/dsse/blob/v1.0.0/protocol.md)."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def statement(predicate: RegistrationPredicate) -> bytes:
    """The in-toto Statement to sign, serialized once (the signature covers these bytes)."""
    body = {
        "_type": STATEMENT_TYPE,
        "subject": [
            {"name": predicate.model_uri, "digest": {"sha256": predicate.model_sha256}},
            {"name": MODEL_SIGNATURE_SUBJECT, "digest": {"sha256": predicate.model_signature_sha256}},
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate.model_dump(mode="json"),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def parse_statement(payload: bytes) -> RegistrationPredicate:
    """The predicate of a verified payload; ValueError when it is not ours."""
    body = json.loads(payload)
    if body.get("_type") != STATEMENT_TYPE or body.get("predicateType") != PREDICATE_TYPE:
        raise ValueError(f"not a hokusai-ci registration statement (predicateType {body.get('predicateType')!r})")
    predicate = RegistrationPredicate.model_validate(body["predicate"])
    subjects = {s.get("name"): s.get("digest", {}).get("sha256") for s in body.get("subject", [])}
    if subjects.get(predicate.model_uri) != predicate.model_sha256:
        raise ValueError("the statement's model subject does not match its predicate")
    if subjects.get(MODEL_SIGNATURE_SUBJECT) != predicate.model_signature_sha256:
        raise ValueError("the statement's model-signature subject does not match its predicate")
    return predicate


def provenance(ci_tags: dict[str, str]) -> Provenance:
    """The statement's CI section from the provenance tags (`hokusai.ci`, `hokusai.commit`, ...)."""
    from hokusai_ci.ports.tracking import TAG_PREFIX

    def get(name: str) -> str | None:
        return ci_tags.get(TAG_PREFIX + name)

    return Provenance(
        system=get("ci"),
        repository=get("repository"),
        commit=get("commit"),
        ref=get("ref"),
        workflow=get("workflow"),
        run_url=get("run_url"),
    )


def json_schema() -> dict[str, object]:
    """The published JSON Schema of the registration predicate."""
    schema = RegistrationPredicate.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://hokus.ai/schemas/attestations/{SCHEMA_NAME}",
        **schema,
        "title": PREDICATE_TYPE,
        "description": "Predicate of the in-toto Statement v1 hokusai-ci signs for each registration.",
    }


def schema_path() -> Path:
    return Path(__file__).parents[1] / "schemas" / SCHEMA_NAME
