"""Signers: a private key (PEM; offline, works in every CI) or keyless Sigstore (the workflow's
OIDC identity on GitHub Actions). The model signature is made by OpenSSF `model_signing`'s own
library, so its CLI verifies it; the registration statement goes in the same kind of bundle
(Sigstore bundle v0.3, DSSE envelope, in-toto Statement v1).

The signing libraries (model_signing, sigstore, cryptography) are imported inside functions:
only a run that signs or verifies pays for them. A key is a secret: it is held in memory, written
only to a private temporary file for the library to read, and never put in a message.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hokusai_ci.config.validation import require_extra
from hokusai_ci.domain.attestation import BUNDLE_MEDIA_TYPE, PAYLOAD_TYPE, Signer, SignMethod, dsse_pae, sha256_hex
from hokusai_ci.domain.errors import Category, HokusaiError, invalid_input
from hokusai_ci.domain.fingerprint import Fingerprint

SUPPORTED_CURVES = ("secp256r1", "secp384r1", "secp521r1")  # what model_signing accepts
KEYLESS_PERMISSION = "permissions: id-token: write"


def build_signer(
    method: str,
    key_pem: str | None,
    key_source: str,
    env: Mapping[str, str],
    trust_config: str | None = None,
    key_file: str | None = None,
) -> Signer | None:
    """The signer a registration asked for, checked before anything is written (exit 2)."""
    if method == "off":
        return None
    require_extra("sign", method, SIGN_MODULES)
    if method == "key":
        if not key_pem:
            raise invalid_input("sign", "key", "give the private key with --sign-key FILE or HOKUSAI_SIGNING_KEY")
        return KeySigner(key_pem.encode(), key_source, key_file or "(hidden)")
    if method == "keyless":
        check_keyless(env)
        return KeylessSigner(trust_config)
    raise invalid_input("sign", method, "use key, keyless or off")


SIGN_MODULES = ("model_signing", "sigstore", "cryptography")  # what the `sign` extra installs


def check_keyless(env: Mapping[str, str]) -> None:
    """Keyless signing needs an OIDC token: on GitHub Actions the job must be allowed to ask
    for one; elsewhere it must be given as SIGSTORE_ID_TOKEN."""
    if env.get("GITHUB_ACTIONS") == "true":
        if not env.get("ACTIONS_ID_TOKEN_REQUEST_URL") or not env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
            raise invalid_input(
                "sign",
                "keyless",
                f"keyless signing needs the job's OIDC token: add `{KEYLESS_PERMISSION}` to the job "
                "(or the workflow), or sign with a key",
            )
    elif not env.get("SIGSTORE_ID_TOKEN"):
        raise invalid_input(
            "sign",
            "keyless",
            "keyless signing runs on GitHub Actions with "
            f"`{KEYLESS_PERMISSION}`; elsewhere set SIGSTORE_ID_TOKEN to an OIDC token, or sign with a key",
        )


def load_private_key(pem: bytes, source: str, shown: str = "(hidden)") -> Any:
    """Parse and check a PEM private key; exit 2 naming where it came from, never its content."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    fix = "give an unencrypted EC private key in PEM (P-256, P-384 or P-521), e.g. from `openssl ecparam -genkey`"
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise invalid_input(source, shown, "the key is encrypted; " + fix) from None
    except Exception:
        if source.isupper() and b"-----BEGIN" not in pem and len(pem) < 4096 and b"\n" not in pem.strip():
            # one short line in the variable: most likely a path where the PEM text belongs
            raise invalid_input(
                source,
                shown,
                "holds one line, not a PEM key: put the key's PEM text in it, or give a file with --sign-key FILE",
            ) from None
        raise invalid_input(source, shown, "not a PEM private key; " + fix) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise invalid_input(source, shown, "unsupported key type (an EC key is needed); " + fix)
    if key.curve.name not in SUPPORTED_CURVES:
        raise invalid_input(source, shown, f"unsupported curve {key.curve.name}; " + fix)
    return key


def public_key_pem(public_key: Any) -> bytes:
    """The PEM of a public key, whose SHA-256 is the key hint model_signing writes in bundles."""
    from cryptography.hazmat.primitives import serialization

    data: bytes = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return data


def ecdsa_hash(public_key: Any) -> Any:
    """The digest an ECDSA signature uses on this curve, as Sigstore bundles expect it
    (P-256 SHA-256, P-384 SHA-384, P-521 SHA-512)."""
    from cryptography.hazmat.primitives import hashes

    digests: dict[int, type[hashes.HashAlgorithm]] = {256: hashes.SHA256, 384: hashes.SHA384, 521: hashes.SHA512}
    return digests[public_key.curve.key_size]()


@contextmanager
def _private_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="hokusai-sign-") as tmp:
        os.chmod(tmp, 0o700)
        yield Path(tmp)


@contextmanager
def model_layout(fp: Fingerprint, workdir: Path) -> Iterator[Path]:
    """The model as the registry stores it (`model/` holding the file or the directory's tree),
    so the signature verifies on a downloaded copy: a single file is linked into a folder."""
    if fp.is_dir:
        yield fp.path
        return
    folder = workdir / "model"
    folder.mkdir()
    (folder / fp.files[0].relpath).symlink_to(fp.path.resolve())
    yield folder


def model_signature_digests(bundle: bytes) -> dict[str, str]:
    """Per-file SHA-256 digests a model_signing bundle lists (payload read, not verified)."""
    envelope = json.loads(bundle)["dsseEnvelope"]
    body = json.loads(base64.b64decode(envelope["payload"]))
    return {r["name"]: r["digest"] for r in body["predicate"]["resources"] if r.get("algorithm") == "sha256"}


def _check_same_files(bundle: bytes, fp: Fingerprint) -> None:
    """The signed digests must be those of the bytes uploaded: a file changed during the run
    would otherwise be signed with content the registry does not hold."""
    signed = model_signature_digests(bundle)
    for f in fp.files:
        if signed.get(f.relpath) != f.sha256:
            raise HokusaiError(
                Category.SIGNING_FAILED,
                f"model file {f.relpath!r} changed while it was registered (its digest differs from the "
                "uploaded one); nothing was signed: re-run once the model folder is stable",
            )


class KeySigner:
    method: SignMethod = "key"

    def __init__(self, pem: bytes, source: str, shown: str = "(hidden)") -> None:
        self._pem = pem
        self._key = load_private_key(pem, source, shown)

    def sign_model(self, fp: Fingerprint) -> bytes:
        from model_signing import hashing, signing

        with _private_dir() as tmp:
            key_file = tmp / "key.pem"
            key_file.touch(mode=0o600)
            key_file.write_bytes(self._pem)
            out = tmp / "model.sig"
            with model_layout(fp, tmp) as folder:
                config = signing.Config().use_elliptic_key_signer(private_key=key_file)
                config.set_hashing_config(hashing.Config().set_allow_symlinks(True)).sign(folder, out)
            bundle = out.read_bytes()
        _check_same_files(bundle, fp)
        return bundle

    def sign_statement(self, statement: bytes) -> bytes:
        from cryptography.hazmat.primitives.asymmetric import ec

        signature = self._key.sign(dsse_pae(statement), ec.ECDSA(ecdsa_hash(self._key.public_key())))
        bundle = {
            "mediaType": BUNDLE_MEDIA_TYPE,
            "verificationMaterial": {
                # the same key hint model_signing writes: SHA-256 of the public key's PEM
                "publicKey": {"hint": sha256_hex(public_key_pem(self._key.public_key()))},
                "tlogEntries": [],
            },
            "dsseEnvelope": {
                "payload": base64.b64encode(statement).decode(),
                "payloadType": PAYLOAD_TYPE,
                "signatures": [{"sig": base64.b64encode(signature).decode(), "keyid": ""}],
            },
        }
        return json.dumps(bundle, separators=(",", ":")).encode()


class KeylessSigner:
    """Sigstore keyless: a short-lived Fulcio certificate for the CI's OIDC identity, logged in
    Rekor. Needs the network (the OIDC provider, Fulcio, Rekor and the TUF trust root)."""

    method: SignMethod = "keyless"

    def __init__(self, trust_config: str | None) -> None:
        self.trust_config = Path(trust_config) if trust_config else None
        self._token: str | None = None

    def identity_token(self) -> str:
        """The ambient OIDC token (GitHub's id-token endpoint, or SIGSTORE_ID_TOKEN)."""
        if self._token is None:
            from sigstore.oidc import detect_credential

            try:
                token = os.environ.get("SIGSTORE_ID_TOKEN") or detect_credential()
            except Exception as exc:
                raise _keyless_error("get the OIDC token", exc) from None
            if not token:
                raise HokusaiError(Category.SIGNING_FAILED, f"no OIDC token for keyless signing: {KEYLESS_PERMISSION}")
            self._token = token
        return self._token

    def _context(self) -> Any:
        from sigstore.models import ClientTrustConfig
        from sigstore.sign import SigningContext

        config = (
            ClientTrustConfig.from_json(self.trust_config.read_text())
            if self.trust_config
            else ClientTrustConfig.production()
        )
        return SigningContext.from_trust_config(config)

    def sign_model(self, fp: Fingerprint) -> bytes:
        from model_signing import hashing, signing

        token = self.identity_token()
        try:
            with _private_dir() as tmp:
                out = tmp / "model.sig"
                with model_layout(fp, tmp) as folder:
                    config = signing.Config().use_sigstore_signer(identity_token=token, trust_config=self.trust_config)
                    config.set_hashing_config(hashing.Config().set_allow_symlinks(True)).sign(folder, out)
                bundle = out.read_bytes()
        except HokusaiError:
            raise
        except Exception as exc:
            raise _keyless_error("sign the model", exc) from None
        _check_same_files(bundle, fp)
        return bundle

    def sign_statement(self, statement: bytes) -> bytes:
        from sigstore.dsse import Statement
        from sigstore.oidc import IdentityToken

        try:
            with self._context().signer(IdentityToken(self.identity_token())) as signer:
                bundle = signer.sign_dsse(Statement(statement))
            return str(bundle.to_json()).encode()
        except Exception as exc:
            raise _keyless_error("sign the registration statement", exc) from None


def _keyless_error(step: str, exc: BaseException) -> HokusaiError:
    reason = " ".join(str(exc).split())[:300] or exc.__class__.__name__
    return HokusaiError(
        Category.SIGNING_FAILED,
        f"keyless signing could not {step} ({exc.__class__.__name__}: {reason}); Sigstore (Fulcio, Rekor) and "
        "the OIDC provider must be reachable; the run is resumable: re-run to sign and register",
    )
