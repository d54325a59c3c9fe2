"""The Python API, start-up weight of read paths, and the last-resort error handler."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hokusai_ci import ModelRegistry
from hokusai_ci.domain.errors import Category, HokusaiError
from tests.conftest import REPO, run_cli


def test_python_api_register_status_list(tmp_path: Path, model_file: Path) -> None:
    registry = ModelRegistry(home=tmp_path / "api-home")
    registry.create_token("XRAY")
    result = registry.register_model(
        token_id="XRAY", model_path=model_file, metric_name="auroc", metric_value=0.85, baseline_value=0.82
    )
    assert result.status == "registered"
    assert result.mlflow_run_id and result.model_version == "1"
    assert registry.status("XRAY").model_uri == "models:/hokusai-XRAY/1"
    assert [t.token_id for t in registry.list_models()] == ["XRAY"]
    with pytest.raises(HokusaiError) as info:
        registry.register_model(
            token_id="XRAY", model_path=model_file, metric_name="auroc", metric_value=0.85, baseline_value=0.82
        )
    assert info.value.category is Category.INVALID_TOKEN_STATUS
    assert info.value.result.token_id == "XRAY"


def _modules_after(args: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "from hokusai_ci.faces.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted(m.split('.')[0] for m in sys.modules)), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    return set(proc.stderr.strip().splitlines()[-1].split())


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["model", "register", "--help"],
        ["model", "verify", "--help"],
        ["model", "status", "--token-id", "X"],
        ["model", "list"],
    ],
)
def test_help_and_read_paths_do_not_import_heavy_modules(args: list[str]) -> None:
    loaded = _modules_after(args)
    assert "fire" in loaded  # the probe really ran the CLI
    heavy = {"mlflow", "requests", "pandas", "numpy", "psycopg", "yaml", "model_signing", "sigstore", "cryptography"}
    assert not loaded & heavy


def test_unexpected_errors_are_one_line_exit_1(tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    (home / "hokusai.db").write_text("this is not a database")
    r = run_cli("model", "list", env={"HOKUSAI_HOME": str(home)})
    assert r.code in (1, 7)
    assert "Traceback" not in r.err
    # force a genuine internal error through the last-resort handler
    code = (
        "import hokusai_ci.core.app as app\n"
        "def boom(*a, **k):\n"
        "    raise RuntimeError('kaboom')\n"
        "app.list_tokens = boom\n"
        "from hokusai_ci.faces.cli import main\n"
        "main(['model', 'list', '--output', 'json'])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 1
    assert '"category": "internal"' in proc.stdout
    assert proc.stderr.strip().splitlines()[-1].startswith("error: Internal Error: unexpected RuntimeError: kaboom")
    assert "Traceback" not in proc.stderr
