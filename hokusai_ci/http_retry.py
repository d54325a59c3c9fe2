"""POST with bounded retries: exponential backoff with jitter on connection errors, timeouts,
429 and 5xx, honouring Retry-After; other 4xx answers are final. Shared by the webhook and
the Hokusai API notification so both behave the same way.

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

from hokusai_ci.redaction import display_url

MAX_DELAY = 60.0


@dataclass
class PostOutcome:
    ok: bool
    attempts: int
    status: int | None = None
    error: str | None = None
    body: Any = None


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
) -> PostOutcome:
    """POST `body`; `headers()` is called per attempt (signatures carry a fresh timestamp)."""
    import requests

    last = PostOutcome(ok=False, attempts=0)
    for attempt in range(1, attempts + 1):
        retry_after = None
        try:
            response = requests.post(url, data=body, headers=headers(), timeout=timeout, allow_redirects=False)
        except requests.Timeout:
            last = PostOutcome(False, attempt, error=f"{display_url(url)}: timed out after {timeout:g}s")
        except requests.RequestException as exc:
            last = PostOutcome(False, attempt, error=f"{display_url(url)}: {exc.__class__.__name__} (cannot connect)")
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
            last = PostOutcome(
                False,
                attempt,
                response.status_code,
                error=f"{display_url(url)} answered HTTP {response.status_code}",
                body=parsed,
            )
            if response.status_code != 429 and response.status_code < 500:
                return last
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if attempt < attempts:
            delay = backoff(attempt, base_delay) if retry_after is None else min(retry_after, MAX_DELAY)
            sleep(delay)
    return last
