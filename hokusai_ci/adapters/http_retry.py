"""POST with bounded retries: exponential backoff with jitter on connection errors, timeouts,
429 and 5xx, honouring Retry-After; other 4xx answers are final. Shared by the webhook and
the Hokusai API notification so both behave the same way.

A caller whose POST is not idempotent on the server (the Hokusai platform's notification) gives
a `RetryPolicy`: only answers the server gives before acting, and failures before the request
left, are retried; a Retry-After longer than its wait budget ends the retries at once.

Redirects are not followed: a 301/302/303 would turn the signed POST into a body-less GET whose
final 200 says nothing about the event. Only a 2xx answer to the POST itself is a delivery; a
redirect is final (no retry) and its target is reported so the user can fix the URL."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from hokusai_ci.config.redaction import display_url

MAX_DELAY = 60.0


@dataclass
class PostOutcome:
    ok: bool
    attempts: int
    status: int | None = None
    error: str | None = None
    body: Any = None
    unsent: bool = False  # no answer because the request never left (no connection was made)
    retry_after: float | None = None  # seconds the last answer asked to wait


def _any_failure(status: int) -> bool:
    return status == 429 or status >= 500


@dataclass(frozen=True)
class RetryPolicy:
    """Which failures a POST retries. The default retries every 5xx, 429 and lost connection."""

    status: Callable[[int], bool] = _any_failure
    after_send: bool = True  # retry a failure after the request left (read timeout, reset)
    wait_budget: float | None = None  # the longest Retry-After honoured, a longer one ends the retries;
    # None: every Retry-After is honoured up to MAX_DELAY


def _unsent(exc: Exception) -> bool:
    """The connection was never made (or its TLS handshake failed), so the server cannot have
    seen the request."""
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.SSLError):  # the TLS handshake failed: no request byte left
        return any(word in str(exc).lower() for word in ("handshake", "certificate", "wrong version number"))
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(reason, NewConnectionError)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def redirect_error(url: str, response: Any) -> str:
    location = response.headers.get("Location")
    target = display_url(location, base=url) if location else "no Location given"
    return (
        f"{display_url(url)} answered HTTP {response.status_code} redirecting to {target}: "
        "redirects are not followed (the POST must be answered 2xx); set the URL to the final address"
    )


def backoff(attempt: int, base: float, rng: Callable[[], float] = random.random) -> float:
    """Full-jitter exponential backoff: a random delay in [base*2^(n-1)/2, base*2^(n-1)]."""
    ceiling = min(MAX_DELAY, base * 2.0 ** (attempt - 1))
    return ceiling / 2 + rng() * ceiling / 2


def post_with_retries(
    url: str,
    body: bytes,
    headers: Callable[[], dict[str, str]],
    *,
    attempts: int,
    timeout: float,
    base_delay: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    policy: RetryPolicy = RetryPolicy(),
) -> PostOutcome:
    """POST `body`; `headers()` is called per attempt (signatures carry a fresh timestamp)."""
    import requests

    last = PostOutcome(ok=False, attempts=0)
    for attempt in range(1, attempts + 1):
        retry_after = None
        try:
            response = requests.post(url, data=body, headers=headers(), timeout=timeout, allow_redirects=False)
        except requests.RequestException as exc:
            unsent = _unsent(exc)
            if isinstance(exc, requests.Timeout):
                error = f"{display_url(url)}: timed out after {timeout:g}s"
            else:
                error = f"{display_url(url)}: {exc.__class__.__name__} (cannot connect)"
            last = PostOutcome(False, attempt, error=error, unsent=unsent)
            if not (unsent or policy.after_send):
                return last
        else:
            parsed: Any = None
            try:
                parsed = response.json()
            except ValueError:
                parsed = None
            if 200 <= response.status_code < 300:
                return PostOutcome(True, attempt, response.status_code, body=parsed)
            if 300 <= response.status_code < 400:
                error = redirect_error(url, response)
                return PostOutcome(False, attempt, response.status_code, error=error, body=parsed)
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            last = PostOutcome(
                False,
                attempt,
                response.status_code,
                error=f"{display_url(url)} answered HTTP {response.status_code}",
                body=parsed,
                retry_after=retry_after,
            )
            if not policy.status(response.status_code):
                return last
            budget = policy.wait_budget
            if retry_after is not None and budget is not None and retry_after > budget:
                return last  # asked to wait longer than the caller may: the caller says when to retry
        if attempt < attempts:
            cap = MAX_DELAY if policy.wait_budget is None else policy.wait_budget
            sleep(backoff(attempt, base_delay) if retry_after is None else min(retry_after, cap))
    return last
