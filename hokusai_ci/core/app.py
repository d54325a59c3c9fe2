"""Wiring: turns settings into adapters and runs the use cases. The CLI, the Python API and
the GitHub Action entrypoint all come through here, so they behave identically.

Each use case returns its result (`results.py`) with `error` set when it failed: `@command`
turns what is raised inside into that field, so no face catches exceptions."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hokusai_ci.config.log_setup import configure_logging as configure_logging  # the faces set up logging through here
from hokusai_ci.config.redaction import display_url
from hokusai_ci.config.settings import Env, Settings
from hokusai_ci.core.champion_compare import compare_request
from hokusai_ci.core.ci_context import ci_tags
from hokusai_ci.core.commands import command, run_command
from hokusai_ci.core.inputs import build_request, check_store_outside_model, check_token_id, parse_flag
from hokusai_ci.core.wiring import build_adapters, describe_endpoints, registry, version_reader
from hokusai_ci.domain.attestation import Signer
from hokusai_ci.domain.errors import Category, HokusaiError, invalid_input
from hokusai_ci.domain.progress import Progress
from hokusai_ci.domain.results import (
    ErrorInfo,
    RegistrationResult,
    ReleaseOutcome,
    ReleaseResult,
    ReplayOutcome,
    ReplayResult,
    TokenListResult,
    TokenResult,
    TokenView,
    failed_result,
)
from hokusai_ci.ports.store import TokenStatus, TokenStore, store_now

if TYPE_CHECKING:
    from hokusai_ci.core.verification import VerificationResult

log = logging.getLogger("hokusai_ci")


def open_store(settings: Settings, *, read_only: bool) -> TokenStore:
    """The token store of the selected mode, for commands that need nothing else."""
    return build_adapters(settings, read_only=read_only).store


SECRET_STEP = "`api-key: ${{ secrets.HOKUSAI_API_KEY }}` under `with:`"
SECRET_FOR_DOCKER = "`-e HOKUSAI_API_KEY` with the variable set in the job (a masked CI variable)"


def refuse_empty_local_store(settings: Settings, how_to_set: str) -> None:
    """On a fresh CI runner or container the embedded local token store is empty: falling back
    to it would report "token not found" and suggest `token create`, which cannot help there.
    The usual cause is a missing secret, so say that (exit 2). HOKUSAI_MODE=local still works."""
    if not settings.rules.embedded or settings.mode_reason.startswith(Env.MODE):
        return
    raise HokusaiError(
        Category.INVALID_INPUT,
        f"{Env.API_KEY} is missing: no Hokusai API key or database is configured, and this fresh CI "
        f"environment has no local token store; pass the repository secret with {how_to_set}, "
        f"or configure a database (db-config); {Env.MODE}=local uses an embedded store on purpose",
        field=Env.API_KEY,
    )


@command(RegistrationResult)
def register(settings: Settings, **raw: Any) -> RegistrationResult:
    """Validate raw inputs (as typed by a user), then register. Returns the result, with
    `error` set on failure."""
    from hokusai_ci.core import aliases
    from hokusai_ci.core.registration import Ports
    from hokusai_ci.core.registration import register as run

    token_id = raw.get("token_id")
    baseline_from, set_alias = raw.pop("baseline_from", None), raw.pop("set_alias", None)
    try:
        alias_to_set = aliases.alias_to_set(set_alias)
        if alias_to_set:  # refused now, not after registering: aliases live in an MLflow server
            registry(settings)
        source = None if baseline_from in (None, "") else aliases.baseline_source(settings, raw, baseline_from)
        request = build_request(**raw)
        if source is not None:
            request = aliases.compared(request, source)
        check_store_outside_model(request.model_path, settings.home, settings.rules.writes_home)
        signer = _signer(settings)
        describe_endpoints(settings)
        request = compare_request(request, lambda: version_reader(settings))
        adapters = build_adapters(
            settings,
            read_only=request.dry_run,
            dry_run=request.dry_run,
            simulate_token=request.token_id,
        )
    except HokusaiError as err:
        return failed_result(err, token_id=token_id if isinstance(token_id, str) else None, mode=settings.mode)
    try:
        ports = Ports(
            store=adapters.store,
            tracker=adapters.tracker,
            progress=lambda label, total: Progress(label, total),
            notifier=adapters.notifier,
            webhook=adapters.webhook,
            webhook_target=adapters.webhook_target,
            ci_tags=ci_tags(),
            lease_seconds=settings.lease_seconds,
            store_retry_seconds=settings.store_retry_seconds,
            event_id=adapters.event_id,
            signer=signer,
        )
        result = run(request, ports)
    finally:
        adapters.close()
    result.mode = settings.mode
    result.mlflow_uri = adapters.mlflow_shown
    if alias_to_set and result.status == "registered" and result.error is None:
        aliases.set_alias(settings, result, alias_to_set)
    return result


def _signer(settings: Settings) -> Signer | None:
    """The signer asked for, its key parsed and checked now: before anything is written."""
    if settings.sign == "off":
        return None
    import os

    from hokusai_ci.adapters.signing import build_signer

    key = settings.signing_key.get_secret_value() if settings.signing_key else None
    return build_signer(
        settings.sign,
        key,
        settings.signing_key_source,
        os.environ,
        settings.sigstore_trust_config,
        settings.signing_key_file,
    )


@command(TokenResult)
def status(settings: Settings, token_id: Any) -> TokenResult:
    tid = check_token_id(token_id)
    adapters = build_adapters(settings, read_only=True)
    try:
        token = adapters.store.get(tid)
        if token is None:
            raise HokusaiError(
                Category.TOKEN_NOT_FOUND,
                f"token {tid!r} does not exist in {adapters.store.describe()}; check the token id and the "
                "database settings",
            )
        view = TokenView.of(token, adapters.store.events_for(tid), simulated=adapters.simulated)
        if token.model_name:
            from hokusai_ci.core.aliases import alias_moves

            view.alias_moves = alias_moves(adapters.store, token.model_name)
        return TokenResult(token=view)
    finally:
        adapters.close()


@command(TokenListResult)
def list_tokens(settings: Settings, status: Any = None) -> TokenListResult:
    wanted = parse_statuses(status)
    adapters = build_adapters(settings, read_only=True)
    try:
        tokens = adapters.store.list_tokens(wanted)
        return TokenListResult(tokens=[TokenView.of(t, simulated=adapters.simulated) for t in tokens])
    finally:
        adapters.close()


@command(TokenResult)
def create_token(settings: Settings, token_id: Any, metadata: dict[str, Any] | None = None) -> TokenResult:
    tid = check_token_id(token_id)
    store = open_store(settings, read_only=False)
    try:
        return TokenResult(token=TokenView.of(store.create(tid, metadata)))
    finally:
        store.close()


@command(ReleaseOutcome)
def release_token(settings: Settings, token_id: Any, force: Any = False) -> ReleaseOutcome:
    """An operator's way out of a claim left by a run that was killed (SIGKILL, OOM, a lost
    machine): the token goes back to draft. A live lease means a run may still be working, so
    it is refused unless forced."""
    tid = check_token_id(token_id)
    forced = parse_flag("force", force)
    store = open_store(settings, read_only=False)
    try:
        token = store.get(tid)
        if token is None:
            raise HokusaiError(Category.TOKEN_NOT_FOUND, f"token {tid!r} does not exist in {store.describe()}")
        if token.status is not TokenStatus.REGISTERING or token.lease_owner is None:
            raise HokusaiError(
                Category.INVALID_TOKEN_STATUS,
                f"token {tid} is {token.status.value}, not registering: there is no claim to release",
                status=token.status.value,
            )
        expires = token.lease_expires_at
        live = expires is not None and expires > store_now(store)
        until = f"{expires:%Y-%m-%d %H:%M:%S} UTC" if expires else "an unknown time"
        if live and not forced:
            raise HokusaiError(
                Category.INVALID_TOKEN_STATUS,
                f"token {tid} is claimed by run {token.lease_owner} whose lease is live until {until}: "
                "a run may still be working on it; wait for the lease to expire, or add --force if "
                "that run is known to be gone",
                status=token.status.value,
            )
        released = store.release(tid, token.lease_owner)
    finally:
        store.close()
    state = "live" if live else "expired"
    release = ReleaseResult(
        token_id=tid,
        released=released,
        claim_id=token.lease_owner,
        lease_expires_at=expires,
        lease_was_live=live,
        message=(
            f"released token {tid}: claim {token.lease_owner} ({state} lease until {until}); the token is draft again"
            if released
            else f"token {tid} changed while releasing it; nothing was released"
        ),
    )
    return ReleaseOutcome(release=release)


@command(ReplayOutcome)
def replay_events(settings: Settings, token_id: Any = None) -> ReplayOutcome:
    """Deliver what the outbox still holds as pending or failed to the configured webhook. A
    failed delivery is reported with what was delivered (`error` set, the counts kept)."""
    from hokusai_ci.core.after_commit import deliver
    from hokusai_ci.domain.events import ConsoleSink

    tid = None if token_id in (None, "") else check_token_id(token_id)
    adapters = build_adapters(settings, read_only=False)
    try:
        if adapters.webhook is None:
            raise invalid_input(
                "webhook-url", settings.webhook_url, "replay needs a webhook: --webhook-url or HOKUSAI_WEBHOOK_URL"
            )
        describe_endpoints(settings, mlflow=False)
        pending = adapters.store.pending_events(tid)
        infos = deliver(pending, adapters.store, ConsoleSink(), adapters.webhook) if pending else []
    finally:
        adapters.close()
    delivered = sum(1 for e in infos if e.delivery_status == "delivered")
    failed = len(infos) - delivered
    outcome = ReplayResult(
        status="nothing_pending" if not infos else ("delivered" if not failed else "failed"),
        webhook=display_url(settings.webhook_url or ""),
        delivered=delivered,
        failed=failed,
        events=infos,
    )
    if not failed:
        return ReplayOutcome(replay=outcome)
    first_error = next(e.last_error for e in infos if e.last_error)
    message = f"{failed} of {len(infos)} event(s) were not delivered: {first_error}; they stay in the outbox"
    return ReplayOutcome(replay=outcome, error=ErrorInfo.of(HokusaiError(Category.EVENT_DELIVERY_FAILED, message)))


def parse_statuses(value: Any) -> list[TokenStatus]:
    """`registered` by default; `all`, or a comma-separated list of statuses."""
    if value in (None, "", True):
        return [TokenStatus.REGISTERED]
    words = [w.strip().lower() for w in str(value).split(",") if w.strip()]
    if words == ["all"]:
        return list(TokenStatus)
    known = {s.value: s for s in TokenStatus}
    bad = [w for w in words if w not in known]
    if bad or not words:
        raise invalid_input("status", value, f"use all or a comma-separated list of {', '.join(known)}")
    return [known[w] for w in words]


def verify(settings: Settings, **given: Any) -> VerificationResult:
    """Verify a registered version (by model URI or token) or a local copy and its bundles.
    `error` is set when a check fails: VERIFICATION_FAILED (exit 11) when something differs from
    what was signed, TOKEN_NOT_FOUND when the token store has no record."""
    from hokusai_ci.core.verification import VerificationResult

    return run_command(VerificationResult, _verify, settings, **given)


def _verify(
    settings: Settings,
    *,
    model_uri: Any = None,
    token_id: Any = None,
    model_path: Any = None,
    bundle: Any = None,
    model_signature: Any = None,
    public_key: Any = None,
    identity: Any = None,
    issuer: Any = None,
    trust_config: Any = None,
) -> VerificationResult:
    from pathlib import Path

    from hokusai_ci.core import verification

    given = {"model-uri": model_uri, "token-id": token_id, "model-path": model_path or bundle}
    chosen = [k for k, v in given.items() if v not in (None, "")]
    what = "give one of --model-uri models:/NAME/VERSION, --token-id X, or --model-path DIR with --bundle FILE"
    if len(chosen) > 1:
        raise invalid_input(chosen[1], given[chosen[1]], f"--{chosen[0]} was given too; {what}, not several")
    if not chosen:
        raise invalid_input("model-uri", None, what)
    trust = verification.trust_from(
        public_key, identity, issuer, str(trust_config) if trust_config else settings.sigstore_trust_config
    )
    if chosen == ["model-path"]:
        if model_path in (None, "") or bundle in (None, ""):
            missing = "bundle" if bundle in (None, "") else "model-path"
            raise invalid_input(missing, None, "a local copy needs --model-path DIR and --bundle FILE")
        sig = None if model_signature in (None, "") else Path(str(model_signature))
        result = verification.verify_local(Path(str(model_path)), Path(str(bundle)), sig, trust)
    else:
        result = _verify_registered(settings, model_uri, token_id, trust)
    return result


def _verify_registered(settings: Settings, model_uri: Any, token_id: Any, trust: Any) -> VerificationResult:
    from hokusai_ci.core import verification

    adapters = build_adapters(settings, read_only=True)
    try:
        if token_id not in (None, ""):
            tid = check_token_id(token_id)
            token = adapters.store.get(tid)
            if token is None:
                raise HokusaiError(
                    Category.TOKEN_NOT_FOUND, f"token {tid!r} does not exist in {adapters.store.describe()}"
                )
            if token.model_uri is None:
                raise HokusaiError(
                    Category.INVALID_TOKEN_STATUS,
                    f"token {tid} is {token.status.value}: no model is registered for it to verify",
                    status=token.status.value,
                )
            model_uri = token.model_uri
        if adapters.simulated:
            raise invalid_input("mode", settings.mode, "mock mode uploads nothing; verify against a real registry")
        describe_endpoints(settings)
        return verification.verify_registry(
            version_reader(settings),
            str(model_uri),
            trust,
            adapters.store.get,
            mode=settings.mode,
            accepted=adapters.accepted_versions,
            token_store=adapters.store.describe(),
        )
    finally:
        adapters.close()
