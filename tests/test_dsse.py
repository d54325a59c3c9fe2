"""Our DSSE encoding and ECDSA digest choice against model_signing's own (the format our key
bundles must match byte for byte, so `model_signing` and Sigstore tooling read them). The
runtime code does not import model_signing's private helpers; this test pins that it agrees."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st
from model_signing._signing.sign_ec_key import get_ec_key_hash
from model_signing._signing.sign_sigstore_pb import pae

from hokusai_ci.adapters.signing import ecdsa_hash
from hokusai_ci.domain.attestation import dsse_pae


@given(st.binary(max_size=4096))
def test_pre_authentication_encoding_matches_model_signing(payload: bytes) -> None:
    assert dsse_pae(payload) == pae(payload)


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()], ids=lambda c: c.name)
def test_signature_digest_per_curve_matches_model_signing(curve: ec.EllipticCurve) -> None:
    public = ec.generate_private_key(curve).public_key()
    assert type(ecdsa_hash(public)) is type(get_ec_key_hash(public))
    assert ecdsa_hash(public).digest_size * 8 == {256: 256, 384: 384, 521: 512}[curve.key_size]
