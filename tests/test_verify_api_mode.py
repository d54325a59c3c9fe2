"""`model verify` in API mode holds the platform's answer against the signed statement.

Which side is real: MLflow is a real `mlflow server` on 127.0.0.1, reached through the Hokusai
stand-in's `/api/mlflow` proxy as API mode does by default; keys are real EC P-256 pairs. The
hosted Hokusai API has no counterpart here: `HokusaiStandIn` (tests/hokusai_standin.py) is the
local server that answers as the platform does and keeps the bodies it received. Tampering is
done as someone with write access to MLflow would: tags removed, edited, a version created.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from hokusai_ci import ModelRegistry
from hokusai_ci.adapters.hokusai_api import PlatformAnswer, body_sha256, platform_model_id, signed_payload
from hokusai_ci.config.redaction import redact
from hokusai_ci.core.record_checks import check_platform
from hokusai_ci.core.verification import CHECKS, Failed, VerificationResult
from hokusai_ci.domain.attestation import Metric, Provenance, RegistrationPredicate
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.schema_files import result_schemas
from tests.conftest import Run, register_args, run_cli
from tests.hokusai_standin import HokusaiStandIn, KeyService
from tests.servers import MlflowServer
from tests.test_api_mode import ADMIN, KEYS
from tests.test_signing import client, failed_checks, keypair

ANSWER, NOTIFIED = "hokusai.platform_answer", "hokusai.notified"


@pytest.fixture
def hokusai(mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[HokusaiStandIn]:
    """API mode with a registry admin's key, MLflow reached through the stand-in's proxy."""
    service = KeyService(keys=dict(KEYS)).start()
    standin = HokusaiStandIn(mlflow_server.url, service).start()
    monkeypatch.setenv("HOKUSAI_API_KEY", ADMIN)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", ADMIN)  # in-process calls set it: restored after the test
    monkeypatch.setenv("HOKUSAI_API_URL", standin.url)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", standin.mlflow_proxy_url)
    yield standin
    standin.stop()
    service.stop()


def register_signed(token: str, model: Path, key: Path, *extra: str) -> Run:
    r = run_cli(
        *register_args(token, model, "auroc", "0.88", "0.91"), "--sign-key", str(key), "--output", "json", *extra
    )
    assert r.code == 0, r.out + r.err
    return r


def verify(uri: str, public: Path, *extra: str) -> Run:
    return run_cli("model", "verify", "--model-uri", uri, "--public-key", str(public), *extra)


def test_verify_checks_what_the_platform_accepted(
    hokusai: HokusaiStandIn, mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    private, public = keypair(tmp_path)
    register_signed("AV-OK", model_file, private)
    [sent] = hokusai.notifications()
    tags = client(mlflow_server).get_model_version("hokusai-AV-OK", "1").tags
    assert tags[NOTIFIED] == "true"
    recorded = json.loads(tags[ANSWER])
    # the digest on the version is the digest of the bytes the platform received
    assert recorded == {"body_sha256": hashlib.sha256(sent.body).hexdigest(), "model_id": "hokusai-AV-OK/1/AV-OK"}

    checked = verify("models:/hokusai-AV-OK/1", public, "--output", "json")
    assert checked.code == 0, checked.out + checked.err
    out = checked.json()
    jsonschema.validate(out, result_schemas()["verification_result.v1.schema.json"])
    assert {c["name"]: c["verdict"] for c in out["checks"]} == dict.fromkeys(CHECKS, "passed") | {
        "evidence": "skipped"  # a given value: no evidence files
    }
    [platform] = [c for c in out["checks"] if c["name"] == "platform_answer"]
    assert "model_id hokusai-AV-OK/1/AV-OK" in platform["detail"]
    assert out["platform_model_id"] == "hokusai-AV-OK/1/AV-OK"

    text = run_cli("model", "verify", "--token-id", "AV-OK", "--public-key", str(public))
    assert text.code == 0, text.err
    assert "ok    platform_answer" in text.out
    assert "Accepted by the Hokusai platform as model_id hokusai-AV-OK/1/AV-OK" in text.out

    result = ModelRegistry().verify_model("models:/hokusai-AV-OK/1", public_key=public)
    assert isinstance(result, VerificationResult) and result.model_dump(mode="json") == out


def test_a_removed_or_altered_answer_fails_naming_the_tag(
    hokusai: HokusaiStandIn, mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    private, public = keypair(tmp_path)
    register_signed("AV-TAG", model_file, private)
    uri, c = "models:/hokusai-AV-TAG/1", client(mlflow_server)
    original = c.get_model_version("hokusai-AV-TAG", "1").tags[ANSWER]

    c.delete_model_version_tag("hokusai-AV-TAG", "1", NOTIFIED)
    removed = verify(uri, public, "--output", "json")
    assert removed.code == 11, removed.out + removed.err
    # the token record is read from that tag in API mode, so it no longer says registered either
    assert failed_checks(removed.json()) == ["platform_answer", "token_record"]
    assert removed.json()["error"]["message"] == (
        f"platform_answer: tag {NOTIFIED} is missing: the platform's acceptance of {uri} is not recorded"
    )
    c.set_model_version_tag("hokusai-AV-TAG", "1", NOTIFIED, "true")

    # the platform was told another value than the one signed: the recorded digest is that body's
    [sent] = hokusai.notifications()
    other = json.loads(sent.body) | {"current_value": 0.99}
    c.set_model_version_tag("hokusai-AV-TAG", "1", ANSWER, PlatformAnswer(body_sha256=body_sha256(other)).tag_value())
    altered = verify(uri, public)
    assert altered.code == 11, altered.out + altered.err
    assert f"error: Verification Failed: platform_answer: tag {ANSWER} records body sha256" in altered.err
    assert "the platform was told something other than what was signed" in altered.err

    c.set_model_version_tag("hokusai-AV-TAG", "1", ANSWER, "accepted")
    garbled = verify(uri, public, "--output", "json")
    assert garbled.code == 11 and failed_checks(garbled.json()) == ["platform_answer"]
    assert garbled.json()["error"]["message"].startswith(f"platform_answer: tag {ANSWER} is 'accepted', not a recorded")

    # the digest is right but the model_id is not the one the server builds for this registration
    forged = PlatformAnswer.from_tag(original).model_copy(update={"model_id": "hokusai-OTHER/7/OTHER"})
    c.set_model_version_tag("hokusai-AV-TAG", "1", ANSWER, forged.tag_value())
    falsified = verify(uri, public)
    assert falsified.code == 11, falsified.out + falsified.err
    assert f"platform_answer: tag {ANSWER} records model_id 'hokusai-OTHER/7/OTHER'" in falsified.err
    assert "'hokusai-AV-TAG/1/AV-TAG' for this registration" in falsified.err
    assert "hokusai-OTHER/7/OTHER" not in falsified.out.replace("records model_id 'hokusai-OTHER/7/OTHER'", "")

    c.set_model_version_tag("hokusai-AV-TAG", "1", ANSWER, original)
    assert verify(uri, public).code == 0


def test_another_accepted_version_of_the_token_fails_naming_it(
    hokusai: HokusaiStandIn, mlflow_server: MlflowServer, model_file: Path, tmp_path: Path
) -> None:
    private, public = keypair(tmp_path)
    r = register_signed("AV-TWO", model_file, private).json()
    # a second version of the same token, tagged as accepted (as a run on another machine would)
    c = client(mlflow_server)
    second = c.create_model_version(
        "hokusai-AV-TWO",
        f"runs:/{r['mlflow_run_id']}/model",
        run_id=r["mlflow_run_id"],
        tags={"hokusai.token_id": "AV-TWO", NOTIFIED: "true"},
    )
    assert second.version == "2"
    v = verify("models:/hokusai-AV-TWO/1", public, "--output", "json")
    assert v.code == 11, v.out + v.err
    assert failed_checks(v.json()) == ["platform_answer"]
    assert v.json()["error"]["message"] == (
        f"platform_answer: token AV-TWO was also accepted by the platform for models:/hokusai-AV-TWO/2 "
        f"(tag {NOTIFIED}=true)"
    )
    with pytest.raises(HokusaiError) as info:
        ModelRegistry().verify_model("models:/hokusai-AV-TWO/1", public_key=public)
    assert info.value.category is Category.VERIFICATION_FAILED and info.value.exit_code == 11
    assert info.value.result.model_dump(mode="json") == v.json()


def test_an_answer_echoing_the_key_is_recorded_redacted(
    hokusai: HokusaiStandIn, mlflow_server: MlflowServer, model_file: Path
) -> None:
    hokusai.model_id = f"id-for-{ADMIN}"
    r = run_cli(*register_args("AV-ECHO", model_file, "auroc", "0.88", "0.91"))
    assert r.code == 0, r.err
    recorded = client(mlflow_server).get_model_version("hokusai-AV-ECHO", "1").tags[ANSWER]
    assert ADMIN not in recorded and json.loads(recorded)["model_id"] == "id-for-***"
    assert ADMIN not in r.err and "model_id id-for-***" in r.err


def test_database_mode_skips_the_platform_answer(mlflow_server: MlflowServer, model_file: Path, tmp_path: Path) -> None:
    private, public = keypair(tmp_path)
    config = tmp_path / "db.json"
    config.write_text(json.dumps({"url": f"sqlite:///{tmp_path / 'tokens.db'}"}))
    assert run_cli("token", "create", "--token-id", "AV-DB", "--db-config", str(config)).code == 0
    store = ["--db-config", str(config), "--mlflow-uri", mlflow_server.url]
    register_signed("AV-DB", model_file, private, *store)
    tags = client(mlflow_server).get_model_version("hokusai-AV-DB", "1").tags
    assert NOTIFIED not in tags and ANSWER not in tags
    v = verify("models:/hokusai-AV-DB/1", public, "--output", "json", *store)
    assert v.code == 0, v.out + v.err
    checks = {c["name"]: c for c in v.json()["checks"]}
    assert checks["platform_answer"]["verdict"] == "skipped"
    assert checks["platform_answer"]["detail"].startswith("database mode: no platform is notified")
    assert checks["token_record"]["verdict"] == "passed"


# -- hostile values, without a server ------------------------------------------------------------
PREDICATE = RegistrationPredicate(
    token_id="AV-H",
    model_name="hokusai-AV-H",
    model_version="1",
    model_uri="models:/hokusai-AV-H/1",
    mlflow_run_id="0" * 32,
    model_sha256="a" * 64,
    model_layout="file",
    model_files=1,
    model_bytes=10,
    model_signature_sha256="b" * 64,
    metric=Metric(name="auroc", value=0.91, baseline=0.88, direction="higher", delta=0.03, passed=True),
    metrics_file_sha256=None,
    ci=Provenance(),
    signing_method="key",
    tool="hokusai-ci",
    tool_version="0",
    registered_at=datetime(2026, 1, 1, tzinfo=UTC),
)
SERVER_ID = "hokusai-AV-H/1/AV-H"  # the server builds <model_name>/<version>/<token_id>
GOOD = PlatformAnswer(body_sha256=body_sha256(signed_payload(PREDICATE)), model_id=SERVER_ID).tag_value()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@given(
    notified=st.none() | st.text(max_size=200), answer=st.none() | st.text(max_size=300) | json_values.map(json.dumps)
)
@example(notified="true", answer=GOOD)
@example(notified="true", answer=GOOD.replace(SERVER_ID, "hokusai-AV-H/2/AV-H"))
@example(notified="true", answer=GOOD.replace(SERVER_ID, "m-1"))
@example(notified="true", answer=PlatformAnswer.from_tag(GOOD).model_copy(update={"model_id": None}).tag_value())
def test_any_recorded_answer_passes_only_when_it_is_the_signed_one(notified: str | None, answer: str | None) -> None:
    tags = {k: v for k, v in ((NOTIFIED, notified), (ANSWER, answer)) if v is not None}
    result = VerificationResult()
    try:
        detail = check_platform(PREDICATE, tags, lambda token: [("hokusai-AV-H", "1")], result)
    except Failed as exc:
        message = str(exc)
        assert message.startswith(f"tag {NOTIFIED if notified != 'true' else ANSWER} ")
        assert len(message) < 400 and result.platform_model_id is None
    else:
        assert notified == "true" and answer is not None
        recorded = PlatformAnswer.from_tag(answer)
        assert recorded.body_sha256 == PlatformAnswer.from_tag(GOOD).body_sha256
        assert recorded.model_id in (None, SERVER_ID)  # a falsified id never passes
        said = f"model_id {recorded.model_id}" if recorded.model_id else "no model_id"
        assert said in detail and result.platform_model_id == recorded.model_id


@given(model_id=json_values)
def test_any_model_id_the_platform_answers_is_recorded_safely_or_not_at_all(model_id: Any) -> None:
    kept = platform_model_id({"model_id": model_id})
    answer = PlatformAnswer(body_sha256="c" * 64, model_id=kept)
    value = answer.tag_value()
    assert len(value) < 1000  # well under MLflow's tag value limit
    assert PlatformAnswer.from_tag(value).model_id == (None if kept is None else redact(kept))
    if kept is not None:
        assert kept == str(model_id).strip() and kept.isprintable() and not isinstance(model_id, bool)
