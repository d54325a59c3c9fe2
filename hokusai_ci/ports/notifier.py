"""The platform port: telling the Hokusai platform about a registration.

In API mode the platform must accept a registration before the token counts as registered;
database and local modes have no platform to tell (the token store is the record). The same
`complete` then means the same thing in every mode: the token store records the registration.
"""

from __future__ import annotations

from typing import Protocol

from hokusai_ci.domain.metrics import GateResult
from hokusai_ci.domain.record import Registration


class Notifier(Protocol):
    def check(self, gate: GateResult) -> None:
        """The platform's own acceptance rules, before anything is written. Raises
        `HokusaiError(PLATFORM_REJECTED)` for a result the platform is known to refuse."""

    def notify(self, token_id: str, registration: Registration) -> bool:
        """Tell the platform. False when another version of the token was accepted first.
        Raises `PLATFORM_REJECTED` for a verdict (never retried) and `EVENT_DELIVERY_FAILED`
        when the platform could not be reached after bounded retries."""
