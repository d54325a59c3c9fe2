"""One way out of a command: a failure becomes the `error` of the command's result.

Every use case in `app.py` is wrapped in `@command(ResultType)`: a `HokusaiError` raised inside
becomes `ResultType(error=...)`, an unexpected exception the internal-error category (exit 1, its
traceback logged at DEBUG only). So a face never catches: it renders the result it gets back and
exits with `result.exit_code` (gto's `gto_command` does the same for its CLI). Ctrl-C and SIGTERM
are not caught here: they unwind to the face, which reports them in the same result shape.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from pydantic import BaseModel

from hokusai_ci.domain.errors import HokusaiError, internal_error

log = logging.getLogger("hokusai_ci")

P = ParamSpec("P")
R = TypeVar("R", bound=BaseModel)


def failed(result_type: type[R], err: HokusaiError) -> R:
    """The result of a command that failed before it knew anything else (a result type that
    keeps a fact of the failure, such as the version an alias was found on, builds it itself)."""
    from hokusai_ci.domain.results import ErrorInfo

    of_error = getattr(result_type, "of_error", None)
    return of_error(err) if of_error is not None else result_type(error=ErrorInfo.of(err))


def run_command(result_type: type[R], fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`fn(*args, **kwargs)`, with any failure turned into `result_type`'s `error`."""
    try:
        return fn(*args, **kwargs)
    except HokusaiError as err:
        log.debug("details", exc_info=True)
        return failed(result_type, err)
    except Exception as exc:
        log.debug("unexpected error", exc_info=True)
        return failed(result_type, internal_error(exc))


def command(result_type: type[R]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Make a use case return `result_type` with `error` set instead of raising."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            return run_command(result_type, fn, *args, **kwargs)

        return run

    return wrap
