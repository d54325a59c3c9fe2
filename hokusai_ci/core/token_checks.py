"""Which token states a registration may start from, and the one-line refusals for the others
(not found, being registered by a live run, already registered with the same or other content)."""

from __future__ import annotations

from datetime import datetime

from hokusai_ci.core.inputs import RegistrationRequest
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.fingerprint import Fingerprint, fingerprint
from hokusai_ci.domain.streaming import ModelSource
from hokusai_ci.ports.store import TokenRecord, TokenStatus, TokenStore, store_now
from hokusai_ci.ports.tracking import Status, TrackedModel


def check_token(req: RegistrationRequest, token: TokenRecord | None, store: TokenStore) -> None:
    tid = req.token_id
    where = store.describe()
    if token is None:
        raise HokusaiError(
            Category.TOKEN_NOT_FOUND,
            f"token {tid!r} does not exist in {where}; check the token id and the database settings "
            f"(create tokens on the Hokusai site, or locally with `hokusai token create --token-id {tid}`)",
        )
    if token.status is TokenStatus.DRAFT:
        return
    if token.status is TokenStatus.REGISTERING:
        if token.lease_expires_at is not None and token.lease_expires_at < store_now(store):
            return  # the run holding it died; the claim will take over
        raise HokusaiError(
            Category.INVALID_TOKEN_STATUS,
            f"token {tid} is being registered by another run (status registering until "
            f"{token.lease_expires_at:%Y-%m-%d %H:%M:%S} UTC); wait for it, then check "
            f"`hokusai model status --token-id {tid}`; if that run was killed, "
            f"`hokusai token release --token-id {tid} --force` frees the token now "
            "(a run after the lease expires takes the claim over by itself)",
            status=token.status.value,
        )
    if token.status is TokenStatus.REGISTERED:
        quick = quick_sha(req) if token.sha256 is not None else None
        if quick is None:
            tail = "; nothing was uploaded"
        elif quick == token.sha256:
            tail = "; same model content, nothing to do"
        else:
            tail = "; this model's content differs, nothing was uploaded: a registered token keeps its model"
        raise HokusaiError(
            Category.INVALID_TOKEN_STATUS,
            f"token {tid} is already registered: {token.model_name} version {token.model_version} "
            f"(run {token.run_id}, sha256 {str(token.sha256)[:12]}, "
            f"{token.metric_name}={token.metric_value:g}, registered {_at(token.registered_at)})" + tail,
            status=token.status.value,
        )
    raise HokusaiError(
        Category.INVALID_TOKEN_STATUS,
        f"token {tid} is in status {token.status.value!r}; only draft tokens can be registered",
        status=token.status.value,
    )


def _at(when: datetime | None) -> str:
    return f"{when:%Y-%m-%d %H:%M:%S} UTC" if when else "at a time not recorded"


def quick_sha(req: RegistrationRequest) -> str | None:
    """Only a small model (a file or a folder) is hashed to say "same content" in an error."""
    try:
        if ModelSource.of(req.model_path, req.links_within).total_bytes <= 64 * 1024 * 1024:
            return fingerprint(req.model_path, links_within=req.links_within).sha256
    except (OSError, HokusaiError):
        return None
    return None


def check_not_registered_elsewhere(req: RegistrationRequest, versions: list[TrackedModel], store: TokenStore) -> None:
    """The token store says Draft, but MLflow holds a version of the token tagged `registered`:
    another token store (an earlier CI job's local store, another database) registered it. A
    token is registered once, and a registered version's tags are never rewritten, so this run
    uploads nothing (exit 4, as for a token this store knows is registered)."""
    registered = [v for v in versions if v.status == Status.REGISTERED]
    if not registered:
        return
    found = registered[-1]
    quick = quick_sha(req) if found.sha256 else None
    same = " with this content" if quick is not None and quick == found.sha256 else ""
    raise HokusaiError(
        Category.INVALID_TOKEN_STATUS,
        f"token {req.token_id} is already registered in MLflow{same}: {found.model_name} version "
        f"{found.model_version}, by another token store ({store.describe()} has no record of it: a fresh CI "
        "runner's local store, or another database); nothing was uploaded: keep one token store per token "
        "(a database store, or API mode), or register a new token",
        status=TokenStatus.REGISTERED.value,
    )


def same_content(earlier: list[TrackedModel], fp: Fingerprint, model_name: str) -> TrackedModel | None:
    """The token's earlier upload of this content into the model asked for: a version of the
    same content in another registered model is another registration, never adopted."""
    return next((v for v in earlier if v.sha256 == fp.sha256 and v.model_name == model_name), None)
