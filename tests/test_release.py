"""The offline half of a release (scripts/release.py): the tags a version sets and moves, and
the released action.yml that pulls the published image by digest instead of building it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import release

DIGEST = "ghcr.io/hokusai/register-model@sha256:" + "0123456789abcdef" * 4


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_a_version_sets_its_tag_and_moves_minor_and_major(major: int, minor: int, patch: int) -> None:
    assert release.tags(f"v{major}.{minor}.{patch}") == [f"v{major}.{minor}.{patch}", f"v{major}.{minor}", f"v{major}"]


@pytest.mark.parametrize("bad", ["v1.2", "1.2.3", "v01.2.3", "v1.2.3-rc1", "v1.2.3\n", "v1.2.3.4", "V1.2.3", ""])
def test_anything_but_a_release_version_is_refused(bad: str) -> None:
    with pytest.raises(release.ReleaseError, match=r"vMAJOR\.MINOR\.PATCH"):
        release.tags(bad)


def test_the_released_action_pulls_the_image_by_digest(tmp_path: Path) -> None:
    shipped = (REPO / "action.yml").read_text()
    pinned_file = tmp_path / "action.yml"
    pinned_file.write_text(shipped)
    proc = subprocess.run([sys.executable, str(REPO / "scripts/release.py"), "pin", str(pinned_file), DIGEST])
    assert proc.returncode == 0
    before, after = yaml.safe_load(shipped), yaml.safe_load(pinned_file.read_text())
    assert before["runs"] == {"using": "docker", "image": "Dockerfile"}
    assert after["runs"] == {"using": "docker", "image": f"docker://{DIGEST}"}
    assert {k: v for k, v in after.items() if k != "runs"} == {k: v for k, v in before.items() if k != "runs"}
    lint = subprocess.run(
        [
            str(Path(sys.executable).with_name("check-jsonschema")),
            "--builtin-schema",
            "vendor.github-actions",
            str(pinned_file),
        ],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    with pytest.raises(release.ReleaseError, match="exactly one"):
        release.pin(pinned_file.read_text(), DIGEST)  # already released: nothing to pin


@pytest.mark.parametrize(
    "ref",
    [
        "ghcr.io/hokusai/register-model:v1",  # a tag can be re-pushed; a digest cannot
        "ghcr.io/hokusai/register-model@sha256:abc",
        "ghcr.io/Hokusai/register-model@sha256:" + "0" * 64,
        DIGEST + "\n  evil: true",
    ],
)
def test_only_an_image_by_digest_is_pinned(ref: str) -> None:
    with pytest.raises(release.ReleaseError):
        release.pin((REPO / "action.yml").read_text(), ref)


def test_the_release_workflow_uses_the_script_for_tags_and_pin() -> None:
    workflow = yaml.safe_load((REPO / ".github/workflows/release.yml").read_text())
    scripts = "\n".join(step.get("run", "") for step in workflow["jobs"]["publish"]["steps"])
    assert 'scripts/release.py tags "$VERSION"' in scripts
    assert 'scripts/release.py pin action.yml "$IMAGE_REF"' in scripts
    cli = subprocess.run(
        [sys.executable, str(REPO / "scripts/release.py"), "tags", "v2.0.1"], capture_output=True, text=True
    )
    assert (cli.returncode, cli.stdout) == (0, "v2.0.1\nv2.0\nv2\n")
    bad = subprocess.run(
        [sys.executable, str(REPO / "scripts/release.py"), "tags", "v2"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: version 'v2'")
