"""Bidirectional-text controls ("Trojan Source"): refused in every free-text input by the one
control-character rule, and escaped wherever the tool shows a value it did not choose (log
lines, the job summary, workflow commands, CI tags), over the whole set of such characters."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hokusai_ci.config.log_setup import ShownInOrder
from hokusai_ci.config.settings import load_settings
from hokusai_ci.config.validation import BIDI_CONTROL, CONTROL, refuse_control
from hokusai_ci.core.ci_context import ci_tags
from hokusai_ci.domain.errors import HokusaiError
from hokusai_ci.faces.github_report import code_span, error_command, log_escape, md
from hokusai_ci.faces.presenters import error_text
from tests.conftest import register_args, run_here

# Every character the rule must cover, written out rather than read from the code under test.
BIDI_CHARS = [chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]]
BIDI = st.sampled_from(BIDI_CHARS)
# Text around the character: letters, spaces, and right-to-left script.
AROUND = st.text(alphabet=st.sampled_from("aZ09._- אבג"), max_size=12)
FAST = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
FIELDS = ["model-name", "metric-key", "metric", "direction", "model-path", "metrics-file", "token-id"]


def test_the_set_is_exactly_the_bidi_controls() -> None:
    assert all(CONTROL.search(c) and BIDI_CONTROL.search(c) for c in BIDI_CHARS)
    others = [chr(c) for c in range(0x0600, 0x2100) if chr(c) not in BIDI_CHARS]
    assert [c for c in others if BIDI_CONTROL.search(c)] == []


@FAST
@given(field=st.sampled_from(FIELDS), char=BIDI, before=AROUND, after=AROUND)
def test_a_bidi_control_is_refused_in_every_text_input(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, field: str, char: str, before: str, after: str
) -> None:
    monkeypatch.setenv("HOKUSAI_MOCK_MODE", "true")
    model = tmp_path / "model.bin"
    model.write_bytes(b"w" * 64)
    metrics = tmp_path / "m.json"
    metrics.write_text('{"auroc": 0.9}')
    value = {"model-path": str(model), "metrics-file": str(metrics)}.get(field, "auroc")
    value = value + before + char + after
    options = {"metric_value": "", "metrics_file": str(metrics)} if field in ("metric-key", "metrics-file") else {}
    options[field.replace("-", "_")] = value
    r = run_here(*register_args("BIDI", model, joined=True, dry_run="true", **options))
    assert r.code == 2, r.err
    assert f"{field}=" in r.err and f"bidirectional control character U+{ord(char):04X}" in r.err, r.err
    assert not BIDI_CONTROL.search(r.err + r.out), r.err  # the error quotes the value escaped


@given(char=BIDI)
def test_a_setting_refuses_a_bidi_control_like_an_input(char: str) -> None:
    named = re.escape(f"U+{ord(char):04X}")
    with pytest.raises(HokusaiError, match=named):
        refuse_control("model-name", f"m{char}x")
    with pytest.raises(HokusaiError, match=f"HOKUSAI_EXPERIMENT.*{named}"):
        load_settings({}, {"HOKUSAI_EXPERIMENT": f"exp{char}x"})


@given(before=AROUND, char=BIDI, after=AROUND)
def test_every_place_a_value_is_shown_escapes_bidi_controls(before: str, char: str, after: str) -> None:
    text = before + char + after
    escaped = f"\\u{ord(char):04x}"
    record = logging.LogRecord("hokusai_ci", logging.INFO, __file__, 1, "tag %s", (text,), None)
    shown = {
        "log line": log_escape(text),
        "summary text": md(text),
        "summary code": code_span(text),
        "error command": error_command("Title", text),
        "error line": error_text("Title", text),
        "console log": ShownInOrder("%(message)s").format(record),
    }
    for where, line in shown.items():
        assert not BIDI_CONTROL.search(line), where
        assert escaped in line, (where, line)


@given(char=BIDI)
def test_a_ci_variable_holding_a_bidi_control_is_escaped_in_the_tags(char: str) -> None:
    tags = ci_tags({"GITHUB_ACTIONS": "true", "GITHUB_REF": f"refs/heads/main{char}x", "GITHUB_WORKFLOW": "wf"})
    assert tags["hokusai.ref"] == f"refs/heads/main\\u{ord(char):04x}x"
