"""What alias commands accept, refused before anything is read or written, and the checks that
keep a champion of another metric or evaluation set from becoming a baseline."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hokusai_ci.core import alias_baseline, promotion
from hokusai_ci.domain.attestation import BaselineSource
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.ports.tracking import Tag


@given(st.text(max_size=80))
def test_an_alias_is_accepted_only_as_a_plain_name(text: str) -> None:
    try:
        assert promotion.check_alias(text) == text
    except HokusaiError as err:
        assert err.category is Category.INVALID_INPUT and err.message.startswith("alias=")
        assert "\n" not in err.message
    else:
        assert (text.isascii() and text[:1].isalpha()) or text[:1] == "_"


@given(st.one_of(st.text(max_size=20), st.integers(), st.booleans(), st.none(), st.floats()))
def test_expect_current_is_a_version_number(value: object) -> None:
    try:
        version = promotion.check_version(value)
    except HokusaiError as err:
        assert err.category is Category.INVALID_INPUT and "expect-current" in err.message
    else:
        assert version.isdigit() and int(version) >= 1 and not isinstance(value, bool)


@pytest.mark.parametrize("spec", ["champion", "alias:", "alias:a b", "label:champion", "alias:champion\n"])
def test_baseline_from_names_an_alias(spec: str) -> None:
    with pytest.raises(HokusaiError) as refused:
        alias_baseline.parse_baseline_from(spec)
    assert refused.value.category is Category.INVALID_INPUT


def _champion(tags: dict[str, str]) -> dict[str, object]:
    return {"version": "7", "tags": tags}


def test_the_champion_read_from_the_alias_becomes_the_baseline() -> None:
    tags = {Tag.METRIC: "auroc", Tag.METRIC_VALUE: "0.87", Tag.EVIDENCE_SHA256: "p1,l1", Tag.EVALUATION_SHA256: "e1"}
    source = alias_baseline.baseline_from(lambda m, a: _champion(tags), "hokusai-T", "champion", 0.5)
    assert (source.source, source.version, source.value, source.evaluation_sha256) == ("alias", "7", 0.87, "e1")
    assert not source.pairable  # its predictions were not stored with it
    stored = alias_baseline.baseline_from(
        lambda m, a: _champion({**tags, Tag.EVIDENCE_URI: "s3://b/e"}), "m", "champion", None
    )
    assert stored.pairable


def test_no_champion_needs_the_flag() -> None:
    with pytest.raises(HokusaiError) as refused:
        alias_baseline.baseline_from(lambda m, a: None, "hokusai-T", "champion", None)
    assert refused.value.exit_code == 2 and "give --baseline" in refused.value.message
    source = alias_baseline.baseline_from(lambda m, a: None, "hokusai-T", "champion", 0.8)
    assert (source.source, source.value, source.version) == ("flag", 0.8, None)


def test_a_version_without_the_tools_tags_is_no_baseline() -> None:
    with pytest.raises(HokusaiError) as refused:
        alias_baseline.baseline_from(lambda m, a: _champion({}), "hokusai-T", "champion", 0.8)
    assert refused.value.exit_code == 2 and Tag.METRIC_VALUE in refused.value.message


def test_another_metric_or_evaluation_set_is_refused_naming_both() -> None:
    champion = BaselineSource(
        source="alias", alias="champion", model_name="m", version="7", value=0.8, metric="auroc", evaluation_sha256="l1"
    )
    with pytest.raises(HokusaiError) as metric:
        alias_baseline.check_comparable(champion, "accuracy", None)
    assert metric.value.exit_code == 2 and "auroc" in metric.value.message and "accuracy" in metric.value.message
    with pytest.raises(HokusaiError) as rows:
        alias_baseline.check_comparable(champion, "auroc", "l2")
    assert rows.value.exit_code == 2 and "l1" in rows.value.message and "l2" in rows.value.message
    assert "a digest of rows joined by --id-column never equals one without" in rows.value.message
    alias_baseline.check_comparable(champion, "auroc", "l1")
    alias_baseline.check_comparable(champion, "auroc", None)  # the candidate's value was given, not measured


@pytest.mark.parametrize(("champion", "candidate"), [("lower", "higher"), ("higher", "lower")])
def test_a_candidate_gated_the_other_way_than_the_champion_is_refused(champion: str, candidate: str) -> None:
    """A loss gated lower-is-better as champion, the candidate's --direction higher: 0.6 would
    beat 0.5 by being worse. The champion's `hokusai.direction` decides which way they compare."""
    tags = {Tag.METRIC: "loss", Tag.METRIC_VALUE: "0.5", Tag.DIRECTION: champion}
    source = alias_baseline.baseline_from(lambda m, a: _champion(tags), "hokusai-T", "champion", None)
    with pytest.raises(HokusaiError) as refused:
        alias_baseline.check_comparable(source, "loss", None, candidate)
    assert refused.value.exit_code == 2 and refused.value.field == "direction"
    assert f"with {champion} is better, this model with {candidate} is better" in refused.value.message
    assert "leave it out" not in refused.value.message  # loss has no direction of its own: the advice is one
    alias_baseline.check_comparable(source, "loss", None, champion)  # the same way: compared
    mse = {Tag.METRIC: "mse", Tag.METRIC_VALUE: "0.5", Tag.DIRECTION: "lower"}
    known = alias_baseline.baseline_from(lambda m, a: _champion(mse), "hokusai-T", "champion", None)
    with pytest.raises(HokusaiError) as flipped:
        alias_baseline.check_comparable(known, "mse", None, "higher")
    assert "use --direction lower, or leave it out for mse's own" in flipped.value.message
