"""What `model verify` reports and what it checks against: the named checks and their verdicts,
the result (a published JSON shape), who must have signed (`Trust`), and one check's failure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

from pydantic import BaseModel

from hokusai_ci.domain.attestation import RegistrationPredicate
from hokusai_ci.domain.errors import Category
from hokusai_ci.domain.results import ErrorInfo

CheckName = Literal[
    "signed",
    "registration_signature",
    "model_signature_bundle",
    "model_signature",
    "model_digest",
    "evidence",
    "version_tags",
    "platform_answer",  # before token_record: in API mode the token record is derived from it
    "token_record",
]


CHECKS: tuple[CheckName, ...] = get_args(CheckName)


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
