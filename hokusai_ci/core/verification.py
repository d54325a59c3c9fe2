"""`model verify`: is what the registry holds still what was signed?

Downloads the version's model files and signature bundles (streamed to disk), re-hashes every
file, verifies both signatures (a public key, or for keyless the expected identity and issuer),
then checks that the version's tags and the token record still say what the signed predicate
says. In API mode it also checks the platform's answer recorded on the version at notification
(the platform has no read endpoint): it accepted this version, was sent exactly the body the
signed statement makes, and accepted no other live version of the token. Every check gets a
verdict; the first one that fails names the file, tag or field.

This module holds the two entry points and the order of the checks; the checks themselves are
in `signature_checks` and `record_checks`, what they report in `verdicts`.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from hokusai_ci.config.validation import CONTROL
from hokusai_ci.core.inputs import MODEL_URI
from hokusai_ci.core.record_checks import check_digest, check_platform, check_tags, check_token
from hokusai_ci.core.signature_checks import check_model_signature, load_public_key, signer_text, verified_payload
from hokusai_ci.domain.attestation import (
    ATTESTATION_DIR,
    MODEL_SIGNATURE_FILE,
    REGISTRATION_FILE,
    RegistrationPredicate,
    parse_statement,
    sha256_hex,
)
from hokusai_ci.domain.errors import Category, HokusaiError, invalid_input
from hokusai_ci.domain.fingerprint import fingerprint
from hokusai_ci.domain.measured.stored import EvidenceMismatch, check_stored, evidence_folder
from hokusai_ci.domain.results import ErrorInfo
from hokusai_ci.domain.verdicts import (
    CHECKS,
    AcceptedVersions,
    CheckName,
    CheckResult,
    Failed,
    Trust,
    VerificationResult,
)
from hokusai_ci.ports.store import TokenRecord
from hokusai_ci.ports.tracking import Tag, TrackedModel, VersionReader

__all__ = ["CHECKS", "Failed", "Trust", "VerificationResult", "trust_from", "verify_local", "verify_registry"]


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
        from hokusai_ci.config.config_files import read_input_file

        pem = read_input_file("public-key", public_key)[1].encode()
        load_public_key(pem, public_key)
        return Trust(public_key=pem)
    if identity and issuer:
        if trust_config:
            from hokusai_ci.config.config_files import read_input_file

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
        _check_evidence(checker, reader, tracked, predicate, Path(tmp, "evidence"))
        checker.run("version_tags", lambda: check_tags(predicate, tracked, tags, reg), needs=predicate)
        if accepted is None:
            checker.skip(
                "platform_answer", f"{mode} mode: no platform is notified (only API mode tells the Hokusai API)"
            )
        else:
            platform = accepted
            checker.run("platform_answer", lambda: check_platform(predicate, tags, platform, result), needs=predicate)
        token_id = predicate.token_id if predicate else tags.get(Tag.TOKEN)
        result.token_id = token_id
        checker.run(
            "token_record",
            lambda: check_token(
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
    for name in ("evidence", "version_tags", "platform_answer", "token_record"):
        checker.skip(name, "a local copy: the registry was not read (verify with --model-uri for these)")
    return checker.finish()


def _check_evidence(
    checker: _Checker, reader: VersionReader, tracked: TrackedModel, predicate: RegistrationPredicate | None, dest: Path
) -> None:
    """The measured gate's evidence stored with the version, against the signed digests."""
    if predicate is not None and predicate.evidence_sha256 is None:
        checker.skip("evidence", "the metric value was given, not measured: no evidence files to check")
        return

    def check() -> str:
        assert predicate is not None and predicate.evidence_sha256 is not None
        got = reader.download(tracked, evidence_folder(predicate.evidence_sha256), str(dest))
        try:
            return check_stored(Path(got) if got else None, predicate.evidence_sha256)
        except EvidenceMismatch as exc:
            raise Failed(str(exc)) from None

    checker.run("evidence", check, needs=predicate)


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
        payload = verified_payload(bundle, trust)
        try:
            predicate = parse_statement(payload)
        except (ValueError, RecursionError) as exc:
            raise Failed(f"the signed statement is not a valid registration statement: {exc}") from None
        result.predicate = predicate
        return f"statement {digest[:12]}… signed by the {signer_text(trust)}"

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
    checker.run("model_signature", lambda: check_model_signature(folder, model_sig, trust, downloaded, only_signed))
    checker.run("model_digest", lambda: check_digest(predicate, downloaded), needs=predicate)
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
