"""Builds the adapters of the selected mode: the one place that switches on what the mode means
(`mode_choice.ModeRules`), and hands those rules on with the adapters.

Adapters get plain values (URLs, keys, paths), never the settings object, and heavy modules
(mlflow, psycopg) are imported only by the adapter that needs them, when it is built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hokusai_ci.adapters.sql_store import SqlTokenStore
from hokusai_ci.config.mode_choice import ModeRules
from hokusai_ci.config.redaction import display_url
from hokusai_ci.config.settings import Env, Settings
from hokusai_ci.domain.errors import invalid_input
from hokusai_ci.domain.events import EventSink
from hokusai_ci.ports.notifier import Notifier
from hokusai_ci.ports.store import TokenStore
from hokusai_ci.ports.tracking import Tracker, VersionReader

if TYPE_CHECKING:
    from hokusai_ci.adapters.mlflow_http import HttpConfig
    from hokusai_ci.adapters.mlflow_tracking import MlflowTracker
    from hokusai_ci.adapters.registry_rest import RegistryRest

log = logging.getLogger("hokusai_ci")


@dataclass
class Adapters:
    """What a run works with, and what its mode means (`rules`): code around the adapters asks
    these capabilities, never the mode's name."""

    store: TokenStore
    tracker: Callable[[], Tracker | None]
    rules: ModeRules
    notifier: Notifier | None = None
    webhook: EventSink | None = None
    webhook_target: str | None = None
    event_id: Callable[[str, str, str], str] | None = None
    mlflow_shown: str | None = None  # where models go, safe to print
    # API mode: (model name, version) of each live version of a token the platform accepted
    accepted_versions: Callable[[str], list[tuple[str, str]]] | None = None

    @property
    def simulated(self) -> bool:
        """Mock mode: nothing is uploaded or sent."""
        return self.rules.simulated

    def close(self) -> None:
        self.store.close()


def build_adapters(
    settings: Settings, *, read_only: bool, dry_run: bool = False, simulate_token: str | None = None
) -> Adapters:
    """The adapters of `settings.mode`. `simulate_token` (mock mode) is a token to simulate as
    Draft when the mock store does not hold it yet, as if created on the site."""
    rules = settings.rules
    if rules.simulated:
        return _mock(settings, simulate_token)
    webhook, target = _webhook(settings)
    mlflow_uri = settings.effective_mlflow_uri
    if rules.platform:
        return _api(settings, webhook, target, read_only=read_only)
    no_local_store = rules.embedded and not settings.mlflow_uri and not (settings.home / "mlruns").exists()
    return Adapters(
        store=_sql_store(settings, read_only=read_only),
        rules=rules,
        # nothing registered locally yet, and a dry run must not create the store
        tracker=(lambda: None) if dry_run and no_local_store else _mlflow(settings),
        webhook=webhook,
        webhook_target=target,
        mlflow_shown=display_url(mlflow_uri),
    )


def _sql_store(settings: Settings, *, read_only: bool) -> SqlTokenStore:
    db = settings.database
    if db is None:
        return SqlTokenStore.sqlite(settings.sqlite_path, read_only=read_only)
    if db.dialect == "sqlite":
        path = db.sqlite_path()
        if not read_only and not path.parent.is_dir():  # a typo in the path must not create folders
            raise invalid_input(
                "db-config url", f"sqlite:{path}", f"the folder {str(path.parent)!r} does not exist; create it first"
            )
        return SqlTokenStore.sqlite(path, read_only=read_only)
    password = db.password.get_secret_value() if db.password else None
    return SqlTokenStore.postgresql(db.dsn(), db.describe(), password)


def _mlflow(settings: Settings) -> Callable[[], Tracker | None]:
    uri, experiment = settings.effective_mlflow_uri, settings.experiment

    def make() -> Tracker | None:
        if uri.startswith(("http://", "https://")):
            from hokusai_ci.adapters.mlflow_http import MlflowHttp
            from hokusai_ci.adapters.rest_tracker import RestTracker  # no `import mlflow` on this path

            return RestTracker(uri, experiment, MlflowHttp(uri, http_config(settings)))
        return _mlflow_client(settings)

    return make


def version_reader(settings: Settings) -> VersionReader:
    """What `model verify` reads versions and downloads artifacts with: MLflow's own client,
    which knows every artifact store."""
    return _mlflow_client(settings)


def _mlflow_client(settings: Settings) -> MlflowTracker:
    from hokusai_ci.adapters.mlflow_tracking import MlflowTracker
    from hokusai_ci.config.log_setup import quiet_mlflow

    tracker = MlflowTracker(settings.effective_mlflow_uri, settings.experiment, http_config(settings))
    quiet_mlflow()  # the tracker imported mlflow, which reset its loggers
    return tracker


def http_config(settings: Settings) -> HttpConfig:
    """How MLflow is reached, for either tracker and the registry: MLflow's own variables, with
    the bearer token holding the API key only for a Hokusai host (Settings.registry_token; a
    user's own token wins; None: no token at all, not even the variable's), and the stall
    timeout and retries of the settings."""
    from hokusai_ci.adapters.mlflow_http import HttpConfig

    return HttpConfig.from_environ(
        token=settings.registry_token(), timeout=settings.stall_timeout, retries=settings.mlflow_retries
    )


def _webhook(settings: Settings) -> tuple[EventSink | None, str | None]:
    if not settings.webhook_url:
        return None, None
    from hokusai_ci.adapters.webhook_sink import WebhookSink

    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    sink = WebhookSink(settings.webhook_url, secret, settings.webhook_timeout, settings.webhook_attempts)
    return sink, display_url(settings.webhook_url)


def _api(settings: Settings, webhook: EventSink | None, target: str | None, *, read_only: bool) -> Adapters:
    from hokusai_ci.adapters.api_store import ApiTokenStore
    from hokusai_ci.adapters.hokusai_api import HokusaiApi, HokusaiNotifier
    from hokusai_ci.adapters.mlflow_http import MlflowHttp
    from hokusai_ci.adapters.registry_rest import RegistryRest, registry_config

    assert settings.api_key is not None
    uri = settings.effective_mlflow_uri
    credential = Env.MLFLOW_TRACKING_TOKEN if settings.mlflow_token is not None else None
    registry = RegistryRest(MlflowHttp(uri, registry_config(http_config(settings))), credential=credential)
    api = HokusaiApi(
        settings.api_url,
        settings.api_key.get_secret_value(),
        attempts=settings.webhook_attempts,
        wait_budget=settings.stall_timeout,
    )
    local = SqlTokenStore.sqlite(settings.sqlite_path, read_only=read_only)
    return Adapters(
        store=ApiTokenStore(settings.store_description(), registry, local),
        rules=settings.rules,
        tracker=_mlflow(settings),
        notifier=HokusaiNotifier(api, registry, in_platform_registry=settings.is_platform_registry(uri)),
        webhook=webhook,
        webhook_target=target,
        mlflow_shown=display_url(uri),
        accepted_versions=lambda token_id: [
            (v["name"], str(v["version"])) for v in registry.accepted_versions(token_id)
        ],
    )


def _mock(settings: Settings, simulate_token: str | None) -> Adapters:
    from hokusai_ci.adapters.mock import MockTracker, mock_event_id

    store = SqlTokenStore.sqlite(settings.home / "mock.db")
    if simulate_token is not None and store.get(simulate_token) is None:
        store.create(simulate_token, {"source": "simulated by mock mode"})
        log.info("mock: token %s simulated as Draft", simulate_token)
    if settings.webhook_url:
        log.info("webhook: not called in mock mode")
    return Adapters(store=store, tracker=MockTracker, rules=settings.rules, event_id=mock_event_id)


def registry(settings: Settings) -> RegistryRest:
    """The model registry's REST client for alias reads and moves (`promote`, `rollback`,
    `--baseline-from`, `--set-alias`): an MLflow server (http or https), in every mode but mock."""
    from hokusai_ci.adapters.mlflow_http import MlflowHttp
    from hokusai_ci.adapters.registry_rest import RegistryRest, registry_config

    uri, rules = settings.effective_mlflow_uri, settings.rules
    if rules.simulated or not uri.startswith(("http://", "https://")):
        shown = "mock mode" if rules.simulated else display_url(uri)
        raise invalid_input(
            "mlflow-uri",
            shown,
            "aliases live in an MLflow server's model registry: give --mlflow-uri http(s)://… (MLFLOW_TRACKING_URI)",
        )
    credential = Env.MLFLOW_TRACKING_TOKEN if rules.platform and settings.mlflow_token is not None else None
    config = registry_config(http_config(settings)) if rules.platform else http_config(settings)
    return RegistryRest(MlflowHttp(uri, config), credential=credential)


def describe_endpoints(settings: Settings, *, mlflow: bool = True) -> None:
    """Say where everything goes, without secrets: never a silent fallback."""
    log.info("mode: %s (%s)", settings.mode, settings.mode_reason)
    log.info(
        "token store: %s%s", settings.store_description(), _via(settings.api_url if settings.rules.platform else "")
    )
    if mlflow and not settings.rules.simulated:
        log.info("MLflow: %s%s", display_url(settings.effective_mlflow_uri), _via(settings.effective_mlflow_uri))
        if settings.rules.platform and not settings.registry_token():
            log.info("the API key is not sent to MLflow there: not a Hokusai host (see %s)", Env.TRUST_HOSTS)
    if settings.webhook_url and not settings.rules.simulated:
        log.info("webhook: %s%s", display_url(settings.webhook_url), _via(settings.webhook_url))


def _via(url: str) -> str:
    """` through proxy …` when the environment's proxy settings route requests to `url` through
    one: HTTPS_PROXY or NO_PROXY change where a request goes, so the start lines say so."""
    from hokusai_ci.config.urls import proxy_for

    proxy = proxy_for(url) if url else None
    return f" through proxy {proxy}" if proxy else ""
