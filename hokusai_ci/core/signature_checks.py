"""The signatures `model verify` checks: the registration statement's DSSE bundle (a public key,
or keyless against the expected identity and issuer) and the model_signing bundle over every
file. A bundle of the wrong kind, another key or a changed file is a failure naming it."""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hokusai_ci.domain.attestation import (
    BUNDLE_MEDIA_TYPE,
    MODEL_SIGNATURE_FILE,
    REGISTRATION_FILE,
    dsse_pae,
    sha256_hex,
)
from hokusai_ci.domain.errors import Category, HokusaiError, invalid_input
from hokusai_ci.domain.fingerprint import Fingerprint
from hokusai_ci.domain.verdicts import Failed, Trust

T = TypeVar("T")


# -- signatures -----------------------------------------------------------------------------
def load_public_key(pem: bytes, field: str) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_public_key(pem)
    except Exception:
        raise invalid_input("public-key", field, "not a PEM public key; export it with `openssl ec -pubout`") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise invalid_input("public-key", field, "give an EC public key (P-256, P-384 or P-521)")
    return key


def signer_text(trust: Trust) -> str:
    return "given public key" if trust.public_key else f"identity {trust.identity} (issuer {trust.issuer})"


def _bundle_material(bundle: bytes, name: str, kind: str = "a Sigstore bundle") -> tuple[dict[str, Any], bool]:
    """A Sigstore bundle's JSON and whether it is keyless (a certificate) or key-signed. Read
    before any signature check, so a bundle of the wrong kind never sends keyless verification to
    the network; a hostile document (not JSON, nested past the recursion limit) is just not a bundle."""
    try:
        doc = json.loads(bundle)
        material = doc["verificationMaterial"]
        keyless = "certificate" in material or "x509CertificateChain" in material
    except (ValueError, KeyError, TypeError, RecursionError):
        raise Failed(f"{name} is not {kind}") from None
    return doc, keyless


def _same_kind(keyless: bool, trust: Trust, name: str) -> None:
    if trust.public_key is None and not keyless:
        raise Failed(
            f"{name} is signed with a key, not keyless: keyless verification (--identity, --issuer) can never "
            "accept a key signature, so Sigstore was not contacted; verify with --public-key"
        )
    if trust.public_key is not None and keyless:
        raise Failed(f"{name} is signed keyless: verify with --identity and --issuer")


def verified_payload(bundle: bytes, trust: Trust) -> bytes:
    """The DSSE payload, once its signature verifies for the trusted signer."""
    doc, keyless = _bundle_material(bundle, REGISTRATION_FILE)
    _same_kind(keyless, trust, REGISTRATION_FILE)
    if trust.public_key is None:
        return _verified_keyless(bundle, trust)
    return _verified_with_key(doc, trust.public_key)


def _verified_with_key(doc: dict[str, Any], public_pem: bytes) -> bytes:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec

    from hokusai_ci.adapters.signing import ecdsa_hash, public_key_pem

    key = load_public_key(public_pem, "public-key")
    if doc.get("mediaType") != BUNDLE_MEDIA_TYPE:
        raise Failed(f"unexpected bundle media type {doc.get('mediaType')!r}")
    hint = doc["verificationMaterial"].get("publicKey", {}).get("hint")
    expected = sha256_hex(public_key_pem(key))
    if hint and hint != expected:
        raise Failed(f"signed by another key (key hint {hint[:12]}…, the given public key is {expected[:12]}…)")
    envelope = doc["dsseEnvelope"]
    payload = base64.b64decode(envelope["payload"])
    try:
        key.verify(base64.b64decode(envelope["signatures"][0]["sig"]), dsse_pae(payload), ec.ECDSA(ecdsa_hash(key)))
    except (InvalidSignature, IndexError, KeyError, ValueError):
        raise Failed("the signature does not match the statement and the given public key") from None
    return payload


def _trust_root(trust: Trust, load: Callable[[], T]) -> T:
    """Load Sigstore's trust root: from the given file, or fetched through TUF (the network).
    Neither failure is a difference from what was signed: an unusable file is an input error
    (exit 2), an unreachable TUF repository is TRUST_ROOT_UNREACHABLE; both say how to run offline."""
    from sigstore._internal.tuf import DEFAULT_TUF_URL

    offline = (
        "give a Sigstore client trust config file (JSON) with --trust-config FILE or HOKUSAI_SIGSTORE_TRUST_CONFIG, "
        "or verify with --public-key for key signatures"
    )
    try:
        return load()
    except Exception as exc:
        reason = " ".join(str(exc).split())[:200] or exc.__class__.__name__
        if trust.trust_config:
            raise invalid_input("trust-config", trust.trust_config, f"not a Sigstore trust config ({reason})") from None
        raise HokusaiError(
            Category.TRUST_ROOT_UNREACHABLE,
            f"keyless verification needs Sigstore's trust root, and it could not be fetched from {DEFAULT_TUF_URL} "
            f"({exc.__class__.__name__}: {reason}); to verify offline, {offline}",
        ) from None


def _verified_keyless(bundle: bytes, trust: Trust) -> bytes:
    from sigstore.models import Bundle, ClientTrustConfig
    from sigstore.verify import Verifier, policy

    config = _trust_root(
        trust,
        lambda: (
            ClientTrustConfig.from_json(Path(trust.trust_config).read_text())
            if trust.trust_config
            else ClientTrustConfig.production()
        ),
    )
    try:
        verifier = Verifier(trusted_root=config.trusted_root)
        _type, payload = verifier.verify_dsse(
            Bundle.from_json(bundle), policy.Identity(identity=str(trust.identity), issuer=str(trust.issuer))
        )
    except Exception as exc:
        raise Failed(f"keyless signature not verified for {signer_text(trust)}: {exc}") from None
    return bytes(payload)


def check_model_signature(
    folder: Path, sig: Path, trust: Trust, downloaded: Fingerprint, only_signed: bool = False
) -> str:
    """OpenSSF model_signing's own verification; on failure, name the first file that differs."""
    from model_signing import verifying

    from hokusai_ci.adapters.signing import model_signature_digests

    if not sig.is_file():
        raise Failed(f"the model signature {MODEL_SIGNATURE_FILE} is missing")
    raw = sig.read_bytes()
    _same_kind(_bundle_material(raw, MODEL_SIGNATURE_FILE, "a model_signing bundle")[1], trust, MODEL_SIGNATURE_FILE)
    try:
        signed = model_signature_digests(raw)
    except (ValueError, KeyError, TypeError, RecursionError):
        raise Failed(f"{MODEL_SIGNATURE_FILE} is not a model_signing bundle") from None
    if not only_signed:
        _no_unsigned_files(folder, signed)
    with tempfile.TemporaryDirectory(prefix="hokusai-key-") as tmp:
        config = verifying.Config().set_ignore_unsigned_files(only_signed)
        if trust.public_key is not None:
            key_file = Path(tmp, "public.pem")
            key_file.write_bytes(trust.public_key)
            config.use_elliptic_key_verifier(public_key=key_file)
        else:
            trust_file = Path(trust.trust_config) if trust.trust_config else None
            _trust_root(
                trust,
                lambda: config.use_sigstore_verifier(
                    identity=str(trust.identity), oidc_issuer=str(trust.issuer), trust_config=trust_file
                ),
            )
        try:
            config.verify(folder, sig)
        except Exception as exc:
            actual = {f.relpath: f.sha256 for f in downloaded.files}
            for name in sorted(signed.keys() | actual.keys()):
                if name not in actual:
                    raise Failed(f"file {name!r} is signed but missing") from None
                if name not in signed:
                    raise Failed(f"file {name!r} is not in the signed model") from None
                if signed[name] != actual[name]:
                    raise Failed(f"file {name!r} differs from the signed model (sha256 {actual[name][:12]}…)") from None
            raise Failed(f"the model signature does not verify: {' '.join(str(exc).split())[:300]}") from None
    return f"{len(signed)} file(s) match the model_signing signature"


def _no_unsigned_files(folder: Path, signed: dict[str, str]) -> None:
    """Every file the folder holds must be signed. model_signing (and the model's digest) leave
    out top-level `.git*` entries, and registration never uploads them, so one found in a stored
    model was planted: a `.git/config` can run commands in a checkout of it."""
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            rel = Path(root, name).relative_to(folder).as_posix()
            if rel not in signed:
                raise Failed(f"file {rel!r} is not in the signed model")
