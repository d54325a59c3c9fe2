"""`model verify`: is what the registry holds still what was signed?

Downloads the version's model files and signature bundles (streamed to disk), re-hashes every
file, verifies both signatures (a public key, or for keyless the expected identity and issuer),
then checks that the version's tags and the token record still say what the signed predicate
says. In API mode it also checks the platform's answer recorded on the version at notification
(the platform has no read endpoint): it accepted this version, was sent exactly the body the
signed statement makes, and accepted no other live version of the token. Every check gets a
verdict; the first one that fails names the file, tag or field.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

from pydantic import BaseModel

from hokusai_ci.attestation import (
    ATTESTATION_DIR,
    BUNDLE_MEDIA_TYPE,
    MODEL_SIGNATURE_FILE,
    REGISTRATION_FILE,
    RegistrationPredicate,
    attestation_folder,
    dsse_pae,
    parse_statement,
    sha256_hex,
)
from hokusai_ci.errors import Category, HokusaiError, invalid_input
from hokusai_ci.fingerprint import Fingerprint, fingerprint
from hokusai_ci.hokusai_api import PlatformAnswer, body_sha256, expected_model_id, signed_payload
from hokusai_ci.results import ErrorInfo
from hokusai_ci.store import TokenRecord, TokenStatus
from hokusai_ci.tracking import TAG_PREFIX, Status, Tag, TrackedModel, VersionReader
from hokusai_ci.validation import CONTROL

MODEL_URI = re.compile(r"models:/([A-Za-z0-9][A-Za-z0-9._-]{0,127})/([0-9]{1,12})")
CheckName = Literal[
    "signed",
    "registration_signature",
    "model_signature_bundle",
    "model_signature",
    "model_digest",
    "version_tags",
    "platform_answer",  # before token_record: in API mode the token record is derived from it
    "token_record",
]
CHECKS: tuple[CheckName, ...] = get_args(CheckName)
T = TypeVar("T")
Verdict = Literal["passed", "failed", "skipped"]
# API mode's view of the platform: (model name, version) of each live version of a token it accepted
AcceptedVersions = Callable[[str], list[tuple[str, str]]]


class CheckResult(BaseModel):
    name: CheckName
    verdict: Verdict
    detail: str


class VerificationResult(BaseModel):
    verified: bool = False
    source: Literal["registry", "local"] = "registry"
    model_uri: str | None = None
    token_id: str | None = None
    signing_method: str | None = None
    attestation_sha256: str | None = None
    predicate: RegistrationPredicate | None = None
    platform_model_id: str | None = None  # API mode: the platform's id for the accepted registration
    checks: list[CheckResult] = []
    error: ErrorInfo | None = None

    @property
    def exit_code(self) -> int:
        return 0 if self.error is None else self.error.exit_code


@dataclass(frozen=True)
class Trust:
    """Who must have signed: a public key (PEM), or a keyless identity and its OIDC issuer."""

    public_key: bytes | None = None
    identity: str | None = None
    issuer: str | None = None
    trust_config: str | None = None

    @property
    def method(self) -> str:
        return "key" if self.public_key is not None else "keyless"


class Failed(Exception):
    """One check's failure: its message names the file, tag or field. Exit 11 (differs from what
    was signed) unless the check could not compare: a record absent where the tool looked."""

    def __init__(self, message: str, category: Category = Category.VERIFICATION_FAILED) -> None:
        super().__init__(message)
        self.category = category


# Sigstore identities are an e-mail address or a URI (a workflow, a Kubernetes service account);
# an issuer is an https URL. Anything else (a line break, `javascript:`) is a typo or an attack.
_EMAIL = re.compile(r"[^@\s]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_HTTPS = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s]*)?")
MAX_IDENTITY = 1024


def _check_signer(field: str, value: str, email: bool) -> str:
    example = {
        "identity": "https://github.com/ORG/REPO/.github/workflows/ci.yml@refs/heads/main (or an e-mail address)",
        "issuer": "https://token.actions.githubusercontent.com",
    }[field]
    bad = CONTROL.search(value)
    if bad:
        shown = f"U+{ord(bad.group()):04X}"
        raise invalid_input(field, value, f"contains the control character {shown}; give e.g. {example}")
    if len(value) > MAX_IDENTITY or not (_HTTPS.fullmatch(value) or (email and _EMAIL.fullmatch(value))):
        kind = "an https:// URL or an e-mail address" if email else "an https:// URL"
        raise invalid_input(field, value[:200], f"must be {kind} of at most {MAX_IDENTITY} characters, e.g. {example}")
    return value


def trust_from(
    public_key: str | None, identity: str | None, issuer: str | None, trust_config: str | None = None
) -> Trust:
    """Exactly one way to trust a signer; the public key file is read and parsed here (exit 2)."""
    if public_key and (identity or issuer):
        raise invalid_input("public-key", public_key, "give either --public-key or --identity and --issuer, not both")
    if public_key:
        from hokusai_ci.settings import read_input_file

        pem = read_input_file("public-key", public_key)[1].encode()
        _load_public_key(pem, public_key)
        return Trust(public_key=pem)
    if identity and issuer:
        if trust_config:
            from hokusai_ci.settings import read_input_file

            read_input_file("trust-config", trust_config)
        identity, issuer = _check_signer("identity", identity, True), _check_signer("issuer", issuer, False)
        return Trust(identity=identity, issuer=issuer, trust_config=trust_config)
    missing = "issuer" if identity else "identity" if issuer else "public-key"
    raise invalid_input(
        missing,
        None,
        "give --public-key FILE (the signer's PEM public key), or for keyless signatures --identity "
        "(e.g. https://github.com/ORG/REPO/.github/workflows/ci.yml@refs/heads/main) and --issuer "
        "(https://token.actions.githubusercontent.com)",
    )


# -- the use case ---------------------------------------------------------------------------
def verify_registry(
    reader: VersionReader,
    model_uri: str,
    trust: Trust,
    token: Callable[[str], TokenRecord | None] | None,
    *,
    mode: str = "local",
    accepted: AcceptedVersions | None = None,
    token_store: str = "the token store",
) -> VerificationResult:
    """Verify a registered version on the server, and the token record that names it (in
    `token_store`, as it is named in messages); with `accepted` (API mode), the platform's
    recorded answer too."""
    match = MODEL_URI.fullmatch(model_uri)
    if match is None:
        raise invalid_input("model-uri", model_uri, "use models:/NAME/VERSION, e.g. models:/hokusai-XRAY/1")
    tracked, tags = reader.read_version(match[1], match[2])
    result = VerificationResult(source="registry", model_uri=model_uri, signing_method=trust.method)
    with tempfile.TemporaryDirectory(prefix="hokusai-verify-") as tmp:
        bundles = reader.download(tracked, ATTESTATION_DIR, str(Path(tmp, "sig")))
        reg = Path(bundles, REGISTRATION_FILE) if bundles else None
        if reg is None or not reg.is_file():
            _not_signed(result, f"{model_uri} is not signed: its run has no {ATTESTATION_DIR}/{REGISTRATION_FILE}")
            return result
        model_dir = reader.download(tracked, "model", str(Path(tmp, "model")))
        checker = _Checker(result)
        predicate = _verify_files(checker, trust, reg, Path(reg.parent, MODEL_SIGNATURE_FILE), model_dir)
        checker.run("version_tags", lambda: _check_tags(predicate, tracked, tags, reg), needs=predicate)
        if accepted is None:
            checker.skip(
                "platform_answer", f"{mode} mode: no platform is notified (only API mode tells the Hokusai API)"
            )
        else:
            platform = accepted
            checker.run("platform_answer", lambda: _check_platform(predicate, tags, platform, result), needs=predicate)
        token_id = predicate.token_id if predicate else tags.get(Tag.TOKEN)
        result.token_id = token_id
        checker.run(
            "token_record",
            lambda: _check_token(
                predicate, token(token_id) if token and token_id else None, token is not None, token_store
            ),
            needs=predicate,
        )
    return checker.finish()


def verify_local(model_path: Path, bundle: Path, model_signature: Path | None, trust: Trust) -> VerificationResult:
    """Verify a local copy (a downloaded `model/` folder or the model file) against its bundles."""
    if not model_path.exists():
        raise invalid_input("model-path", str(model_path), "no such file or directory")
    if not bundle.is_file():
        raise invalid_input("bundle", str(bundle), f"no such file; give the downloaded {REGISTRATION_FILE}")
    sig = model_signature or bundle.with_name(MODEL_SIGNATURE_FILE)
    if model_signature is not None and not sig.is_file():
        raise invalid_input("model-signature", str(sig), f"no such file; give the downloaded {MODEL_SIGNATURE_FILE}")
    if not sig.is_file():
        raise HokusaiError(
            Category.INVALID_INPUT,
            f"model-signature is missing: no {MODEL_SIGNATURE_FILE} beside --bundle (looked for {str(sig)!r}); "
            f"download it from the version's {ATTESTATION_DIR}/ folder, or give it with --model-signature FILE",
            field="model-signature",
        )
    result = VerificationResult(source="local", signing_method=trust.method)
    checker = _Checker(result)
    checker.run("signed", lambda: f"{bundle.name} present")
    predicate = _verify_files(checker, trust, bundle, sig, str(model_path))
    result.model_uri = predicate.model_uri if predicate else None
    result.token_id = predicate.token_id if predicate else None
    for name in ("version_tags", "platform_answer", "token_record"):
        checker.skip(name, "a local copy: the registry was not read (verify with --model-uri for these)")
    return checker.finish()


def _verify_files(
    checker: _Checker, trust: Trust, reg: Path, model_sig: Path, model_dir: str | None
) -> RegistrationPredicate | None:
    result = checker.result
    if result.checks == []:
        checker.run("signed", lambda: f"{ATTESTATION_DIR}/{REGISTRATION_FILE} present")
    bundle = reg.read_bytes()
    digest = result.attestation_sha256 = sha256_hex(bundle)
    predicate: RegistrationPredicate | None = None

    def registration() -> str:
        nonlocal predicate
        payload = _verified_payload(bundle, trust)
        try:
            predicate = parse_statement(payload)
        except (ValueError, RecursionError) as exc:
            raise Failed(f"the signed statement is not a valid registration statement: {exc}") from None
        result.predicate = predicate
        return f"statement {digest[:12]}… signed by the {_signer_text(trust)}"

    checker.run("registration_signature", registration)

    def signature_bundle() -> str:
        assert predicate is not None
        if not model_sig.is_file():
            raise Failed(f"the model signature {MODEL_SIGNATURE_FILE} is missing")
        actual = sha256_hex(model_sig.read_bytes())
        if actual != predicate.model_signature_sha256:
            raise Failed(f"{MODEL_SIGNATURE_FILE} differs from the signed one (sha256 {actual[:12]}…)")
        return f"{MODEL_SIGNATURE_FILE} is the one the statement names"

    checker.run("model_signature_bundle", signature_bundle, needs=predicate)
    if model_dir is None:
        checker.skip("model_signature", "the version's run has no model/ artifacts")
        checker.fail("model_digest", "the version's run has no model/ artifacts")
        return predicate
    path = Path(model_dir)
    downloaded = fingerprint(path)
    # model_signing verifies folders: a model file given locally is verified in its own folder,
    # hashing only the files the signature lists
    folder, only_signed = (path, False) if path.is_dir() else (path.parent, True)
    checker.run("model_signature", lambda: _check_model_signature(folder, model_sig, trust, downloaded, only_signed))
    checker.run("model_digest", lambda: _check_digest(predicate, downloaded), needs=predicate)
    return predicate


class _Checker:
    def __init__(self, result: VerificationResult) -> None:
        self.result = result
        self.categories: dict[str, Category] = {}

    def run(self, name: CheckName, check: Callable[[], str], needs: object = True) -> None:
        if needs is None:
            self.skip(name, "needs a verified registration statement")
            return
        try:
            self.result.checks.append(CheckResult(name=name, verdict="passed", detail=check()))
        except Failed as exc:
            self.fail(name, str(exc), exc.category)

    def fail(self, name: CheckName, detail: str, category: Category = Category.VERIFICATION_FAILED) -> None:
        self.categories[name] = category
        self.result.checks.append(CheckResult(name=name, verdict="failed", detail=detail))

    def skip(self, name: CheckName, detail: str) -> None:
        self.result.checks.append(CheckResult(name=name, verdict="skipped", detail=detail))

    def finish(self) -> VerificationResult:
        failed = [c for c in self.result.checks if c.verdict == "failed"]
        self.result.verified = not failed
        if failed:
            # a difference from what was signed outranks a record that could not be found
            mismatch = [c for c in failed if self.categories[c.name] is Category.VERIFICATION_FAILED]
            first = (mismatch or failed)[0]
            err = HokusaiError(self.categories[first.name], f"{first.name}: {first.detail}")
            self.result.error = ErrorInfo.of(err)
        return self.result


def _not_signed(result: VerificationResult, detail: str) -> None:
    checker = _Checker(result)
    checker.fail("signed", detail + " (register with --sign-key or --sign keyless to sign)")
    for name in CHECKS[1:]:
        checker.skip(name, "not signed")
    checker.finish()


# -- signatures -----------------------------------------------------------------------------
def _load_public_key(pem: bytes, field: str) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_public_key(pem)
    except Exception:
        raise invalid_input("public-key", field, "not a PEM public key; export it with `openssl ec -pubout`") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise invalid_input("public-key", field, "give an EC public key (P-256, P-384 or P-521)")
    return key


def _signer_text(trust: Trust) -> str:
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


def _verified_payload(bundle: bytes, trust: Trust) -> bytes:
    """The DSSE payload, once its signature verifies for the trusted signer."""
    doc, keyless = _bundle_material(bundle, REGISTRATION_FILE)
    _same_kind(keyless, trust, REGISTRATION_FILE)
    if trust.public_key is None:
        return _verified_keyless(bundle, trust)
    return _verified_with_key(doc, trust.public_key)


def _verified_with_key(doc: dict[str, Any], public_pem: bytes) -> bytes:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec

    from hokusai_ci.signing import ecdsa_hash, public_key_pem

    key = _load_public_key(public_pem, "public-key")
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
        raise Failed(f"keyless signature not verified for {_signer_text(trust)}: {exc}") from None
    return bytes(payload)


def _check_model_signature(
    folder: Path, sig: Path, trust: Trust, downloaded: Fingerprint, only_signed: bool = False
) -> str:
    """OpenSSF model_signing's own verification; on failure, name the first file that differs."""
    from model_signing import verifying

    from hokusai_ci.signing import model_signature_digests

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


def _check_digest(predicate: RegistrationPredicate | None, downloaded: Fingerprint) -> str:
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
def _check_tags(predicate: RegistrationPredicate | None, tracked: TrackedModel, tags: dict[str, str], reg: Path) -> str:
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
    measured = [(Tag.METRIC_BOUND, p.metric_bound), (Tag.METRIC_BASIS, p.metric_basis)]
    wanted += [(tag, v) for tag, v in (*measured, (Tag.EVIDENCE_SHA256, p.evidence_sha256)) if v is not None]
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
    unsigned = _unsigned_tags(tags, {tag for tag, _ in wanted}, {TAG_PREFIX + k for k in ci})
    told = f"; not covered by the signature: {', '.join(unsigned)}" if unsigned else ""
    return f"{len(wanted)} tags of {p.model_uri} match the statement{told}"


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


def _check_platform(
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


def _check_token(
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
        ("mlflow_run_id", token.mlflow_run_id, p.mlflow_run_id),
        ("model_sha256", token.model_sha256, p.model_sha256),
        ("metric_name", token.metric_name, p.metric.name),
        ("metric_value", token.metric_value, p.metric.value),
        ("baseline", token.baseline, p.metric.baseline),
        ("direction", token.direction, p.metric.direction),
    ):
        if not _same(actual, expected):
            raise Failed(f"token {p.token_id} field {field} is {actual!r}; the signed statement says {expected!r}")
    return f"token {p.token_id} is registered with the signed values"


def _same(actual: object, expected: object) -> bool:
    if actual is None:
        return expected is None
    if isinstance(expected, float):
        try:
            return float(str(actual)) == expected
        except ValueError:
            return False
    return str(actual) == str(expected)
