"""The records `model verify` compares with the signed predicate: the downloaded model's digest,
the version's tags (none added or changed after signing), the platform's recorded answer (API
mode) and the token store's record. The first difference names the tag or field."""

from __future__ import annotations

import json
from pathlib import Path

from hokusai_ci.adapters.hokusai_api import PlatformAnswer, body_sha256, expected_model_id, signed_payload
from hokusai_ci.domain.attestation import REGISTRATION_FILE, RegistrationPredicate, attestation_folder, sha256_hex
from hokusai_ci.domain.errors import Category
from hokusai_ci.domain.fingerprint import Fingerprint
from hokusai_ci.domain.verdicts import AcceptedVersions, Failed, VerificationResult
from hokusai_ci.ports.store import TokenRecord, TokenStatus
from hokusai_ci.ports.tracking import TAG_PREFIX, Status, Tag, TrackedModel


def check_digest(predicate: RegistrationPredicate | None, downloaded: Fingerprint) -> str:
    assert predicate is not None
    if predicate.model_layout == "file":
        if len(downloaded.files) != 1:
            raise Failed(f"the model was one file; found {len(downloaded.files)} files")
        digest = downloaded.files[0].sha256
    else:
        digest = downloaded.sha256
    if digest != predicate.model_sha256:
        raise Failed(f"model sha256 {digest[:12]}… differs from the signed {predicate.model_sha256[:12]}…")
    return f"sha256 {digest} ({downloaded.total_bytes} bytes) as signed"


# -- the registry's record against the statement ----------------------------------------------
def check_tags(predicate: RegistrationPredicate | None, tracked: TrackedModel, tags: dict[str, str], reg: Path) -> str:
    assert predicate is not None
    p = predicate
    for field, seen, signed in (
        ("model name", tracked.model_name, p.model_name),
        ("model version", tracked.model_version, p.model_version),
        ("MLflow run id", tracked.run_id, p.mlflow_run_id),
    ):
        if seen != signed:
            raise Failed(f"{field} {seen!r} differs from the signed {signed!r}")
    wanted: list[tuple[str, object]] = [
        (Tag.TOKEN, p.token_id),
        (Tag.SHA256, p.model_sha256),
        (Tag.METRIC, p.metric.name),
        (Tag.METRIC_VALUE, p.metric.value),
        (Tag.BASELINE, p.metric.baseline),
        (Tag.DIRECTION, p.metric.direction),
        (Tag.STATUS, Status.REGISTERED),
        (Tag.MODEL_SIGNATURE_SHA256, p.model_signature_sha256),
        (Tag.ATTESTATION_SHA256, sha256_hex(reg.read_bytes())),
    ]
    measured: list[tuple[str, object]] = [(Tag.METRIC_BOUND, p.metric_bound), (Tag.METRIC_BASIS, p.metric_basis)]
    measured += [(Tag.EVIDENCE_SHA256, p.evidence_sha256), (Tag.EVALUATION_SHA256, p.evaluation_sha256)]
    wanted += [(tag, v) for tag, v in measured if v is not None]
    if tracked.artifact_uri is not None:  # the pointer events and outputs hand on: the bundle verified here
        where = f"{attestation_folder(tracked.artifact_uri)}/{REGISTRATION_FILE}"
        wanted.append((Tag.ATTESTATION_URI, where))
    ci = {"ci": p.ci.system, "repository": p.ci.repository, "commit": p.ci.commit, "ref": p.ci.ref}
    ci |= {"workflow": p.ci.workflow, "run_url": p.ci.run_url}
    wanted += [(TAG_PREFIX + k, v) for k, v in ci.items() if v is not None]
    for tag, expected in wanted:
        value = tags.get(tag)
        if not _same(value, expected):
            shown = "missing" if value is None else repr(value)
            raise Failed(f"tag {tag} is {shown}; the signed statement says {expected!r}")
    if p.metric_threshold is not None and not _same(tag_threshold(tags), p.metric_threshold):
        columns = tags.get(Tag.EVIDENCE_COLUMNS)
        raise Failed(f"tag {Tag.EVIDENCE_COLUMNS} is {columns!r}; the signed threshold is {p.metric_threshold!r}")
    unsigned = _unsigned_tags(tags, {tag for tag, _ in wanted}, {TAG_PREFIX + k for k in ci})
    # one line a reviewer can rely on: what the signature vouches for, and what it does not
    return (
        f"{len(wanted)} tags of {p.model_uri} match the statement; the signature covers "
        f"{', '.join(tag for tag, _ in wanted)}; informational, not signed: "
        f"{''.join(tag + ', ' for tag in unsigned)}other version tags and the run's tags"
    )


def _unsigned_tags(tags: dict[str, str], signed: set[str], ci: set[str]) -> list[str]:
    """Every `hokusai.*` tag on the version (any case: `Hokusai.commit` reads the same to a
    person) is covered by the statement, or is one the tool writes unsigned, and then reported.
    Anything else was added after signing: a CI tag the statement has no value for, or a name
    hokusai-ci never writes."""
    reported = []
    for key in sorted(tags):
        if not key.lower().startswith(TAG_PREFIX) or key in signed or (key in ci and tags[key] == ""):
            continue  # an empty CI tag says "none", as the statement does (a run adopting a version writes it)
        if key in Tag.UNSIGNED or key.startswith(Tag.PREVIOUS_PREFIX):
            reported.append(key)
        elif key in ci:
            raise Failed(f"tag {key} is {_shown(tags[key])}, added after signing: the signed statement has no value")
        else:
            raise Failed(f"tag {key} is {_shown(tags[key])}: not a tag hokusai-ci writes, and not signed")
    return reported


def check_platform(
    predicate: RegistrationPredicate | None,
    tags: dict[str, str],
    accepted: AcceptedVersions,
    result: VerificationResult,
) -> str:
    """API mode: the platform accepted this version, was told exactly what was signed (the
    digest recorded at notification equals that of the body rebuilt from the statement), and
    accepted no other live version of the token."""
    assert predicate is not None
    p = predicate
    flag = tags.get(Tag.NOTIFIED)
    if flag != "true":
        raise Failed(
            f"tag {Tag.NOTIFIED} is {_shown(flag)}: the platform's acceptance of {p.model_uri} is not recorded"
        )
    raw = tags.get(Tag.PLATFORM_ANSWER)
    if raw is None:
        raise Failed(f"tag {Tag.PLATFORM_ANSWER} is missing: what the platform accepted was not recorded")
    try:
        answer = PlatformAnswer.from_tag(raw)
    except ValueError as exc:
        raise Failed(f"tag {Tag.PLATFORM_ANSWER} is {_shown(raw)}, not a recorded answer ({exc})") from None
    # the registry fields are sent only when the model is in the platform's registry
    bodies = [body_sha256(signed_payload(p, in_platform_registry=inside)) for inside in (True, False)]
    expected = answer.body_sha256 if answer.body_sha256 in bodies else bodies[0]
    if answer.body_sha256 != expected:
        raise Failed(
            f"tag {Tag.PLATFORM_ANSWER} records body sha256 {answer.body_sha256[:12]}…; the notification the "
            f"signed statement makes has {expected[:12]}…: the platform was told something other than what was signed"
        )
    this = (p.model_name, p.model_version)
    others = [f"models:/{name}/{version}" for name, version in accepted(p.token_id) if (name, version) != this]
    if others:
        raise Failed(
            f"token {p.token_id} was also accepted by the platform for {', '.join(others)} (tag {Tag.NOTIFIED}=true)"
        )
    server_id = expected_model_id(p.model_name, p.model_version, p.token_id)
    if answer.model_id is not None and answer.model_id != server_id:
        raise Failed(
            f"tag {Tag.PLATFORM_ANSWER} records model_id {_shown(answer.model_id)}; the platform builds it as "
            f"<model_name>/<version>/<token_id>, {server_id!r} for this registration"
        )
    result.platform_model_id = answer.model_id
    said = f"model_id {answer.model_id}" if answer.model_id else "no model_id"
    return f"accepted by the platform ({said}) with the signed registration, body sha256 {expected[:12]}…"


def _shown(value: str | None) -> str:
    """A tag's value in a message: bounded, since anyone with write access chose it."""
    if value is None:
        return "missing"
    return repr(value) if len(value) <= 80 else repr(value[:80]) + "…"


def check_token(
    predicate: RegistrationPredicate | None, token: TokenRecord | None, looked: bool, where: str = "the token store"
) -> str:
    assert predicate is not None
    p = predicate
    if not looked:
        return "not checked: no token store"
    if token is None:  # not a difference: this machine's store may not be the one that registered it
        raise Failed(
            f"token {p.token_id} has no record in {where}, the token store this machine is configured with; "
            "verify where the registering store is configured (--db-config, HOKUSAI_DB_CONFIG, or API mode)",
            Category.TOKEN_NOT_FOUND,
        )
    if token.status not in (TokenStatus.REGISTERED, TokenStatus.DEPLOYED):  # deployed stays verifiable
        raise Failed(
            f"token {p.token_id} field status is {token.status.value!r}; the signed registration needs it "
            "registered (or deployed)"
        )
    for field, actual, expected in (
        ("model_name", token.model_name, p.model_name),
        ("model_version", token.model_version, p.model_version),
        ("mlflow_run_id", token.run_id, p.mlflow_run_id),
        ("model_sha256", token.sha256, p.model_sha256),
        ("metric_name", token.metric_name, p.metric.name),
        ("metric_value", token.metric_value, p.metric.value),
        ("baseline", token.baseline, p.metric.baseline),
        ("direction", token.direction, p.metric.direction),
    ):
        if not _same(actual, expected):
            raise Failed(f"token {p.token_id} field {field} is {actual!r}; the signed statement says {expected!r}")
    return f"token {p.token_id} is registered with the signed values"


def tag_threshold(tags: dict[str, str]) -> object:
    """The threshold the version's evidence-columns tag holds (None when it holds none)."""
    try:
        named = json.loads(tags.get(Tag.EVIDENCE_COLUMNS) or "{}")
    except ValueError:
        return None
    return named.get("threshold") if isinstance(named, dict) else None


def _same(actual: object, expected: object) -> bool:
    if actual is None:
        return expected is None
    if isinstance(expected, float):
        try:
            return float(str(actual)) == expected
        except ValueError:
            return False
    return str(actual) == str(expected)
