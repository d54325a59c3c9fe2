"""Settings precedence (flag > environment > --db-config file > default) and secret hygiene."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hokusai_ci.config.settings import DatabaseConfig, display_url, load_settings
from hokusai_ci.domain.errors import HokusaiError


def test_defaults_are_the_embedded_local_stores(tmp_path: Path) -> None:
    s = load_settings({}, {})
    assert s.database is None
    assert s.home == Path(".hokusai")
    assert s.effective_mlflow_uri.startswith("file://")
    assert s.log_level == "INFO"


def test_flag_beats_environment_beats_file(tmp_path: Path) -> None:
    cfg = tmp_path / "db.yaml"
    cfg.write_text("host: file-host\nport: 5433\ndatabase: fromfile\nusername: u\npassword: filepw\n")
    env = {"HOKUSAI_DB_HOST": "env-host", "MLFLOW_TRACKING_URI": "http://env:5000"}
    s = load_settings({"db_config": str(cfg), "mlflow_uri": "http://flag:5000"}, env)
    assert s.mlflow_uri == "http://flag:5000"
    assert s.database is not None
    assert s.database.host == "env-host"  # environment beats the file
    assert s.database.port == 5433  # the file fills what the environment does not set
    assert s.database.database == "fromfile"
    s2 = load_settings({}, env)
    assert s2.mlflow_uri == "http://env:5000"


def test_db_config_json_with_url(tmp_path: Path) -> None:
    cfg = tmp_path / "db.json"
    cfg.write_text(json.dumps({"url": "postgresql://me:pw-123@db.example:6543/models"}))
    s = load_settings({"db_config": str(cfg)}, {})
    assert s.database is not None
    assert s.store_description() == "postgresql://me@db.example:6543/models"
    assert "pw-123" not in s.store_description()
    assert "pw-123" not in repr(s)


def test_password_is_never_in_repr_or_description() -> None:
    db = DatabaseConfig(host="h", username="u", password="hunter2-secret")
    assert "hunter2-secret" not in repr(db) + db.describe()
    assert "hunter2-secret" in db.dsn()


@pytest.mark.parametrize("level", ["verbose", "5", "TRACE"])
def test_log_level_is_strict(level: str) -> None:
    with pytest.raises(HokusaiError) as info:
        load_settings({}, {"HOKUSAI_LOG_LEVEL": level})
    assert info.value.exit_code == 2
    assert "HOKUSAI_LOG_LEVEL" in info.value.message


def test_log_level_accepts_any_case() -> None:
    assert load_settings({}, {"HOKUSAI_LOG_LEVEL": "debug"}).log_level == "DEBUG"


def test_bad_urls_and_files_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(HokusaiError, match="mlflow-uri"):
        load_settings({"mlflow_uri": "localhost:5000"}, {})
    with pytest.raises(HokusaiError, match="webhook-url"):
        load_settings({"webhook_url": "ftp://x"}, {})
    with pytest.raises(HokusaiError, match="does not exist"):
        load_settings({"db_config": str(tmp_path / "missing.json")}, {})
    bad = tmp_path / "bad.json"
    bad.write_text('{"host": "h", "password": "s3cret-value",')
    with pytest.raises(HokusaiError) as info:
        load_settings({"db_config": str(bad)}, {})
    assert "s3cret-value" not in str(info.value)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("host: h\npasword: typo\n")
    with pytest.raises(HokusaiError, match="pasword"):
        load_settings({"db_config": str(unknown)}, {})


def test_partial_database_config_is_refused() -> None:
    with pytest.raises(HokusaiError, match="HOKUSAI_DB_HOST"):
        load_settings({}, {"HOKUSAI_DB_NAME": "x"})


def test_display_url_drops_credentials_and_query() -> None:
    assert display_url("https://user:pw@hooks.example/x?token=abc") == "https://hooks.example/x"
