"""Which mode a run is in (database, API, local or mock), decided once from the environment and
printed with its reason: never a silent fallback from one store to another.

`load_settings` and `model gate` both ask `select_mode`, so a pull request's gate stands for the
registration the default branch will run. What a mode then means (which store, which MLflow,
whose rules) is the adapters' business: see `mode_rules` and `wiring.build_adapters`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from hokusai_ci.config.env_names import Env
from hokusai_ci.config.validation import refuse_control
from hokusai_ci.domain.errors import invalid_input

MODES = ("database", "api", "local", "mock")
Mode = Literal["database", "api", "local", "mock"]


@dataclass(frozen=True)
class ModeRules:
    """What a mode means to the code around the adapters, as capabilities: the settings, the
    use cases, the results and the gate ask these instead of comparing mode names, so adding
    or changing a mode is one row here and one branch in `wiring.build_adapters`."""

    platform: bool = False  # tokens, versions and acceptance rules belong to the Hokusai platform
    simulated: bool = False  # nothing is uploaded or sent (mock mode)
    embedded: bool = False  # the token store is the embedded one under HOKUSAI_HOME, and nothing else
    writes_home: bool = False  # HOKUSAI_HOME is written during a run (a store or a cache lives there)


RULES: dict[str, ModeRules] = {
    "database": ModeRules(),
    "api": ModeRules(platform=True, writes_home=True),  # a local cache of the platform's answers
    "local": ModeRules(embedded=True, writes_home=True),
    "mock": ModeRules(simulated=True, writes_home=True),
}
NO_MODE = ModeRules()  # a gate-only result, or a failure before a mode was chosen


def rules_of(mode: str | None) -> ModeRules:
    """The rules of `mode` (a result's `mode` may also be `gate-only` or unset: no rules)."""
    return RULES.get(mode or "", NO_MODE)


def mode_without_secrets(env: Mapping[str, str], has_db_config: bool = False) -> Mode:
    """The mode a registration with this environment would run in, decided by the same rule
    as `load_settings` but without reading or requiring any secret or file: for `model gate`,
    which stands for that registration in a pull request (HOKUSAI_MODE=api needs no key there)."""
    has_db = has_db_config or bool(env.get(Env.DB_CONFIG) or env.get(Env.DB_HOST))
    return select_mode(env, has_db, bool(env.get(Env.API_KEY)), need_secrets=False)[0]


def select_mode(
    env: Mapping[str, str], has_db: bool, has_key: bool, has_mlflow: bool = False, *, need_secrets: bool = True
) -> tuple[Mode, str]:
    """Explicit and printed: HOKUSAI_MODE, then HOKUSAI_MOCK_MODE, then what is configured."""
    mode, reason = _decide(env, has_db, has_key, has_mlflow, need_secrets)
    if mode == "local" and need_secrets and env.get(Env.DB_PASSWORD):  # never a silent fallback to the local store
        raise invalid_input(
            Env.DB_HOST, None, f"{Env.DB_PASSWORD} is set but no database is: set its host (or a url in --db-config)"
        )
    return mode, reason


def _decide(
    env: Mapping[str, str], has_db: bool, has_key: bool, has_mlflow: bool, need_secrets: bool
) -> tuple[Mode, str]:
    forced = refuse_control(Env.MODE, env.get(Env.MODE, "")).strip().lower()
    if forced:
        if forced not in MODES:
            raise invalid_input(Env.MODE, env[Env.MODE], f"use one of {', '.join(MODES)}")
        if forced == "database" and not has_db and need_secrets:
            raise invalid_input(Env.MODE, forced, "database mode needs --db-config or HOKUSAI_DB_HOST")
        if forced == "api" and not has_key and need_secrets:
            raise invalid_input(Env.MODE, forced, "API mode needs HOKUSAI_API_KEY")
        return forced, f"{Env.MODE}={forced}"  # type: ignore[return-value]
    if Env.MOCK_MODE in env:
        word = refuse_control(Env.MOCK_MODE, env[Env.MOCK_MODE]).strip().lower()
        if word not in ("true", "false", "1", "0"):
            raise invalid_input(Env.MOCK_MODE, env[Env.MOCK_MODE], "use true, false, 1 or 0")
        if word in ("true", "1"):
            return "mock", f"{Env.MOCK_MODE}={word}: simulated, no network"
    if has_db:
        return "database", "a database is configured"
    if has_key:
        return "api", f"{Env.API_KEY} is set"
    if has_mlflow:
        return "local", "no token store configured: embedded local token store, the MLflow server given"
    return "local", "nothing configured: embedded local stores"
