"""Every failure the tool can report, with its exit code: the one table the CLI, the JSON
output, the Python API and the GitHub Action all read."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from enum import Enum

from hokusai_ci.config.redaction import redact


class Category(Enum):
    """Error categories; the value is (exit code, title shown to users)."""

    INTERNAL = (1, "Internal Error")
    INVALID_INPUT = (2, "Invalid Input")
    TOKEN_NOT_FOUND = (3, "Token Not Found")
    INVALID_TOKEN_STATUS = (4, "Invalid Token Status")
    METRIC_VALIDATION_FAILED = (5, "Metric Validation Failed")
    PERFORMANCE_BELOW_BASELINE = (6, "Performance Below Baseline")
    DATABASE_CONNECTION_FAILED = (7, "Database Connection Failed")
    MLFLOW_ERROR = (8, "MLflow Error")
    EVENT_DELIVERY_FAILED = (9, "Event Delivery Failed")
    PLATFORM_REJECTED = (10, "Platform Rejected")
    VERIFICATION_FAILED = (11, "Verification Failed")  # `model verify`: a file, tag or field differs
    SIGNING_FAILED = (12, "Signing Failed")  # signing was asked for and could not be done
    MODEL_NOT_FOUND = (13, "Model Not Found")  # `model verify`: no such version where it looked
    TRUST_ROOT_UNREACHABLE = (14, "Trust Root Unreachable")  # keyless verify: Sigstore's root not fetched
    # promote/rollback/--set-alias: the alias is not on the version expected (another move won,
    # or it was moved outside hokusai-ci); the message names the version found
    ALIAS_MOVED = (15, "Alias Moved")
    INTERRUPTED = (130, "Interrupted")  # SIGINT (Ctrl-C), 128 + 2
    TERMINATED = (143, "Terminated")  # SIGTERM, how CI systems cancel a job, 128 + 15

    @property
    def exit_code(self) -> int:
        return self.value[0]

    @property
    def title(self) -> str:
        return self.value[1]

    @property
    def slug(self) -> str:
        """snake_case name used in JSON output (`token_not_found`, ...)."""
        return self.name.lower()


class HokusaiError(Exception):
    """A failure: a category and a one-line message, nothing else to unpack.

    Messages name the field, the value and the fix; they never contain a secret: the message is
    redacted here, so text quoted from a library (a credentialed URL in MLflow's error) is too.
    `field` names the input at fault (bad input), `status` the token status a refusal saw (the
    use case reads it to tell "already registered" apart). A use case returns its result with
    this failure in `error`; the result never rides inside the exception.
    """

    def __init__(
        self, category: Category, message: str, *, field: str | None = None, status: str | None = None
    ) -> None:
        message = redact(message)
        super().__init__(message)
        self.category = category
        self.message = message
        self.field = field
        self.status = status

    @property
    def exit_code(self) -> int:
        return self.category.exit_code

    def with_note(self, note: str) -> HokusaiError:
        """The same failure (class and typed fields kept) with `note` appended to its message."""
        extended = type(self).__new__(type(self))
        extended.__dict__.update(self.__dict__)
        extended.message = redact(self.message + note)
        extended.args = (extended.message,)
        return extended

    def __str__(self) -> str:
        return f"{self.category.title}: {self.message}"


class PlatformError(HokusaiError):
    """The Hokusai platform refused or did not confirm a registration. `maybe_told`: whether the
    platform may have acted on the request (True), surely did not (False), or it is not known."""

    def __init__(self, category: Category, message: str, *, maybe_told: bool | None = None) -> None:
        super().__init__(category, message)
        self.maybe_told = maybe_told


@dataclass(frozen=True)
class KeptVersion:
    """A version a failed registration leaves in MLflow on purpose, reported in the result."""

    model_name: str
    model_version: str
    model_uri: str | None
    mlflow_run_id: str | None
    model_sha256: str | None


class VersionKeptError(HokusaiError):
    """A failure after the upload that keeps the version (API mode: the platform did not accept
    it): the result still names the version left in MLflow."""

    def __init__(self, category: Category, message: str, kept: KeptVersion, *, status: str | None = None) -> None:
        super().__init__(category, message, status=status)
        self.kept = kept


class AliasMovedError(HokusaiError):
    """An alias is not on the version a move expected (`ALIAS_MOVED`, exit 15). `found`: the
    version it is on (None: not set), so a caller can retry from there or name it."""

    def __init__(self, message: str, *, found: str | None) -> None:
        super().__init__(Category.ALIAS_MOVED, message)
        self.found = found


class Cancelled(BaseException):
    """Raised in the main thread by the SIGTERM handler (a CI job cancelled), so the same cleanup
    path runs as for Ctrl-C. A BaseException, like KeyboardInterrupt, so no `except Exception`
    swallows it."""

    category = Category.TERMINATED


def cancel_on_sigterm() -> None:
    """Turn SIGTERM into `Cancelled` in the main thread. Once: a second SIGTERM while the
    cleanup runs is ignored, so the claim still gets released."""

    def handler(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Cancelled

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def invalid_input(field: str, value: object, fix: str) -> HokusaiError:
    """The standard shape of a bad-input error: field, value as typed (or that it is missing),
    what to do."""
    shown = f"{field} is missing" if value is None else f"{field}={value!r} is invalid"
    return HokusaiError(Category.INVALID_INPUT, f"{shown}: {fix}", field=field)


def internal_error(exc: BaseException) -> HokusaiError:
    """The last net for bugs: one line, exit 1; the traceback is logged only at DEBUG."""
    return HokusaiError(
        Category.INTERNAL,
        f"unexpected {exc.__class__.__name__}: {exc}; rerun with HOKUSAI_LOG_LEVEL=DEBUG for details",
    )
