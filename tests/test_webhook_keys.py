"""A webhook signing key anyone could guess is refused: Standard Webhooks asks for 24 to 64
random bytes, and an empty key (`whsec_` alone) would let anyone forge events."""

from __future__ import annotations

import base64
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hokusai_ci.config.settings import MIN_WEBHOOK_KEY_BYTES, load_settings
from hokusai_ci.domain.errors import HokusaiError
from tests.conftest import run_here

short_keys = st.binary(max_size=MIN_WEBHOOK_KEY_BYTES - 1)


@settings(deadline=None)
@given(key=short_keys, spelled=st.sampled_from(["whsec", "plain"]))
def test_a_short_signing_key_is_refused_and_never_shown(key: bytes, spelled: str) -> None:
    if spelled == "whsec":
        secret = "whsec_" + base64.b64encode(key).decode()
    else:  # the key is the text's UTF-8 bytes
        secret = key.decode("utf-8", errors="ignore")
        if not secret.strip() or any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in secret):
            return  # empty and control characters have their own refusals
    with pytest.raises(HokusaiError) as caught:
        load_settings({}, {"HOKUSAI_WEBHOOK_SECRET": secret})
    message = str(caught.value)
    assert caught.value.exit_code == 2 and "HOKUSAI_WEBHOOK_SECRET" in message
    assert "24 to 64 random bytes" in message
    hidden = secret.removeprefix("whsec_")
    if len(hidden) >= 4:
        assert hidden not in message


@given(key=st.binary(min_size=MIN_WEBHOOK_KEY_BYTES, max_size=64))
def test_a_key_of_24_bytes_or_more_is_accepted(key: bytes) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    assert load_settings({}, {"HOKUSAI_WEBHOOK_SECRET": secret}).webhook_secret is not None


def test_an_empty_whsec_key_stops_the_command_before_anything_is_written(monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_here("token", "create", "--token-id", "WH").code == 0
    monkeypatch.setenv("HOKUSAI_WEBHOOK_SECRET", "whsec_")
    code, _, err = run_here("model", "status", "--token-id", "WH")
    assert code == 2 and "the signing key is 0 bytes" in err and err.count("\n") == 1, err


def test_an_empty_whsec_key_is_explained_with_its_prefix_intact(monkeypatch: pytest.MonkeyPatch) -> None:
    """The value `whsec_` is only the format's public prefix: the refusal that explains the format
    keeps the prefix readable (the value itself is never shown)."""
    monkeypatch.setenv("HOKUSAI_WEBHOOK_SECRET", "whsec_")
    code, _, err = run_here("model", "status", "--token-id", "WH")
    assert code == 2 and "whsec_ followed by the output of `openssl rand -base64 32`" in err, err
