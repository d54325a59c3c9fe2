"""What the Hokusai platform's error answers mean, one line each.

The platform validates the API key the same way in front of its MLflow proxy (`/api/mlflow`)
and its notification endpoint, so both adapters explain its answers here. A body's `detail` is
shown as the server wrote it, on one line, bounded, with the key blanked out.
"""

from __future__ import annotations

from typing import Any

from hokusai_ci.config.redaction import redact

ADMIN_REQUIRED = "REGISTRY_ADMIN_REQUIRED"
_MAX_DETAIL = 200


def detail(body: Any, secrets: tuple[str, ...] = (), default: str = "no detail") -> str:
    """The server's `detail`: a string, or FastAPI's list of validation errors. An answer from
    another layer (its rate limiter) may carry only `message` or `error`: that is shown then."""
    raw = None
    if isinstance(body, dict):
        raw = next((body[k] for k in ("detail", "message", "error") if body.get(k) is not None), None)
    if isinstance(raw, list):
        parts = []
        for item in raw[:3]:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item.get('msg', 'invalid')}")
        text = "; ".join(parts)
    else:
        text = "" if raw is None else str(raw)
    text = " ".join(text.split()) or default
    if len(text) > _MAX_DETAIL:
        text = text[:_MAX_DETAIL] + "…"
    return redact(text, secrets)


def is_platform_answer(body: Any) -> bool:
    """The platform answers `{"detail": ...}`; MLflow itself answers `{"error_code": ...}`."""
    return isinstance(body, dict) and "detail" in body and "error_code" not in body


def key_problem(
    status: int, body: Any, where: str, secrets: tuple[str, ...] = (), credential: str | None = None
) -> str | None:
    """The explanation of a refused key (401, 402, 403 REGISTRY_ADMIN_REQUIRED), or None.
    `credential` names the variable whose value was sent when it was not the API key (the
    user's own MLFLOW_TRACKING_TOKEN wins over the key for MLflow)."""
    said = detail(body, secrets)
    if credential is not None and status in (401, 403):
        return (
            f"{where} refused the token in {credential}: {said} (HTTP {status}); it is sent instead of the "
            f"Hokusai API key when set: correct it, or unset {credential} so the API key is used"
        )
    if status == 401:
        return (
            f"{where} rejected the API key: {said} (HTTP 401); check HOKUSAI_API_KEY (a missing, "
            "mistyped, expired or revoked key answers this) or create a new key on the site"
        )
    if status == 402:
        return (
            f"{where} refused the API key's account: {said} (HTTP 402); top up the account's balance "
            "on the site, then re-run"
        )
    if status == 403 and isinstance(body, dict) and body.get("error") == ADMIN_REQUIRED:
        return (
            f"{where} refused the API key: {said} ({ADMIN_REQUIRED}): the platform's MLflow proxy serves "
            "only keys of registry admins; use a registry admin's key, or set --mlflow-uri "
            "(MLFLOW_TRACKING_URI) to an MLflow server you can write to, with its own credentials"
        )
    return None
