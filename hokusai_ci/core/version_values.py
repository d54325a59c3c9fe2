"""The values one registration writes in every place that records it: the version's tags, the
upload request, the token store's record, the signed statement, and the result of a token
registered before. Built from the same gate and digests, so they cannot disagree."""

from __future__ import annotations

import logging

from hokusai_ci import __version__
from hokusai_ci.config.validation import escape_control
from hokusai_ci.core.inputs import RegistrationRequest
from hokusai_ci.core.registration_ports import Checked, Ports
from hokusai_ci.domain.attestation import (
    MODEL_SIGNATURE_FILE,
    REGISTRATION_FILE,
    Attestation,
    RegistrationPredicate,
    provenance,
    sha256_hex,
    statement,
)
from hokusai_ci.domain.attestation import Metric as AttestedMetric
from hokusai_ci.domain.errors import HokusaiError
from hokusai_ci.domain.fingerprint import Fingerprint
from hokusai_ci.domain.measured.decision import Decision, MeasuredGate, basis, evidence_columns, evidence_sha256
from hokusai_ci.domain.record import Registration
from hokusai_ci.domain.results import RegistrationResult
from hokusai_ci.ports.store import utcnow
from hokusai_ci.ports.tracking import Tag, TrackedModel, Tracker, UploadRequest

log = logging.getLogger("hokusai_ci")


def sign(
    tracker: Tracker,
    tracked: TrackedModel,
    record: Registration,
    req: RegistrationRequest,
    checked: Checked,
    fp: Fingerprint,
    ports: Ports,
) -> Attestation | None:
    """Sign what is about to be registered: the model (model_signing's format) and the
    registration statement over the version's values, stored beside the model with their
    digests as version tags. A failure here abandons the run like any other: nothing is
    registered unsigned, and the next run signs the version it adopts."""
    if ports.signer is None:
        return None
    model_bundle = ports.signer.sign_model(fp)
    predicate = registration_predicate(req, checked, fp, record, sha256_hex(model_bundle), ports)
    bundle = ports.signer.sign_statement(statement(predicate))
    folder = tracker.store_attestation(tracked, {MODEL_SIGNATURE_FILE: model_bundle, REGISTRATION_FILE: bundle})
    signed = Attestation(
        uri=f"{folder}/{REGISTRATION_FILE}",
        sha256=sha256_hex(bundle),
        model_signature_sha256=predicate.model_signature_sha256,
        method=ports.signer.method,
    )
    tracker.tag(
        tracked,
        {
            Tag.ATTESTATION_URI: signed.uri,
            Tag.ATTESTATION_SHA256: signed.sha256,
            Tag.MODEL_SIGNATURE_SHA256: signed.model_signature_sha256,
        },
    )
    log.info("signed (%s): registration statement sha256 %s", signed.method, signed.sha256)
    return signed


def registration_predicate(
    req: RegistrationRequest,
    checked: Checked,
    fp: Fingerprint,
    record: Registration,
    model_signature_sha256: str,
    ports: Ports,
) -> RegistrationPredicate:
    """The signed record: the same values the version's tags and the token record hold."""
    g = checked.gate
    return RegistrationPredicate(
        token_id=req.token_id,
        **record.published_version(),
        model_layout="directory" if fp.is_dir else "file",
        model_files=len(fp.files),
        model_bytes=fp.total_bytes,
        model_signature_sha256=model_signature_sha256,
        metric=AttestedMetric(
            name=g.name, value=g.value, baseline=g.baseline, direction=g.direction.value, delta=g.delta, passed=g.passed
        ),
        metrics_file_sha256=req.metrics_file_sha256,
        **measured_fields(req.measured, paired_rule(req)),
        baseline_source=req.baseline_source,
        ci=provenance(ports.ci_tags),
        signing_method=ports.signer.method if ports.signer else "key",
        tool="hokusai-ci",
        tool_version=__version__,
        registered_at=utcnow(),
    )


def version_tags(req: RegistrationRequest, checked: Checked, claim_id: str, ports: Ports) -> dict[str, str]:
    outcome = checked.gate
    tags = {
        Tag.TOKEN: req.token_id,
        Tag.METRIC: outcome.name,
        Tag.METRIC_VALUE: repr(outcome.value),
        Tag.BASELINE: repr(outcome.baseline),
        Tag.DIRECTION: outcome.direction.value,
        **measured_tags(req.measured, paired_rule(req)),
        Tag.CLAIM: claim_id,
        **ports.ci_tags,
    }
    return {key: escape_control(value) for key, value in tags.items()}  # no tag value holds a line break


def paired_rule(req: RegistrationRequest) -> Decision | None:
    """The paired verdict's rule when a paired comparison decided the gate (inputs.decided_by)."""
    return req.paired.decision if req.paired is not None else None


def measured_fields(measured: MeasuredGate | None, paired: Decision | None = None) -> dict[str, str | float]:
    """The measured evidence the version's tags and the signed statement record (none for a
    given value): the candidate's own bound, the basis of the verdict that decided (`paired`:
    the paired one's rule), and the evidence files' digests."""
    if measured is None:
        return {}
    digest = evidence_sha256(measured)
    fields: dict[str, str | float] = {
        "metric_bound": measured.bound,
        "metric_basis": basis(measured, paired),
        "evidence_sha256": digest,
    }
    if measured.evaluation_sha256 is not None:
        fields["evaluation_sha256"] = measured.evaluation_sha256
    if measured.threshold is not None:  # signed; the tags hold it in the evidence columns
        fields["metric_threshold"] = measured.threshold
    return fields


def measured_tags(measured: MeasuredGate | None, paired: Decision | None = None) -> dict[str, str]:
    """The measured fields as tags, and the columns the evidence was read with (unsigned: they
    only say how to read the stored file back; its content is signed), with the threshold (signed
    as `metric_threshold`, checked against this tag by `model verify`)."""
    names = {
        "metric_bound": Tag.METRIC_BOUND,
        "metric_basis": Tag.METRIC_BASIS,
        "evidence_sha256": Tag.EVIDENCE_SHA256,
        "evaluation_sha256": Tag.EVALUATION_SHA256,
    }
    fields = measured_fields(measured, paired).items()
    tags = {names[k]: repr(v) if isinstance(v, float) else v for k, v in fields if k in names}
    if measured is not None:
        tags[Tag.EVIDENCE_COLUMNS] = evidence_columns(measured)
    return tags


def upload_request(req: RegistrationRequest, checked: Checked, claim_id: str, ports: Ports) -> UploadRequest:
    outcome = checked.gate
    return UploadRequest(
        token_id=req.token_id,
        model_name=req.model_name,
        metric_name=outcome.name,
        metric_value=outcome.value,
        baseline=outcome.baseline,
        direction=outcome.direction.value,
        claim_id=claim_id,
        tags=version_tags(req, checked, claim_id, ports),
    )


def token_registration(tracked: TrackedModel, checked: Checked, fp: Fingerprint) -> Registration:
    outcome = checked.gate
    return Registration(
        model_name=tracked.model_name,
        model_version=tracked.model_version,
        model_uri=tracked.model_uri,
        run_id=tracked.run_id,
        sha256=fp.sha256,
        metric_name=outcome.name,
        metric_value=outcome.value,
        baseline=outcome.baseline,
        direction=outcome.direction.value,
    )


def fill_registered(result: RegistrationResult, ports: Ports, token_id: str) -> None:
    """A token registered before: the result names that registration, so a script re-running
    the same job reads the version it already has (the error still says exit 4)."""
    try:
        token = ports.store.get(token_id)
    except HokusaiError:
        return
    if token is not None:
        result.model_name = token.model_name or result.model_name
        result.model_version, result.model_uri = token.model_version, token.model_uri
        result.mlflow_run_id, result.model_sha256 = token.run_id, token.sha256
