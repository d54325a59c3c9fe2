"""Every code block of README.md and docs/, exercised as a reader would use it.

Shell blocks run, in order, as printed: the install from a copy of the repository into a fresh
venv, then the commands with that venv's `hokusai`, in a scratch folder holding the model file the
text says is there. The Python API snippet runs verbatim in an empty folder; the receiver snippet
handles a delivery signed by the tool. GitHub workflows go through actionlint (steps fragments
inside the workflow before them), GitLab/CircleCI configs are parsed and their keys checked, the
JSON example is validated against the published schema, and every `hokusai …` command line found
anywhere (illustrative blocks included) is checked against the CLI's own signatures. The act run
of the gate-only workflow is in test_workflow_act.py (it needs the Docker engine).

A block marked `<!-- illustrative: why -->` needs something this machine cannot reach; one marked
`<!-- slow: why -->` is a benchmark. Both are still parsed; MARKED lists them, and why.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from markdown_it import MarkdownIt

from hokusai_ci.domain.schema_files import result_schemas
from hokusai_ci.faces import cli, usage
from tests.conftest import DOC_PAGES, REPO

MARK = re.compile(r"<!--\s*(illustrative|slow):\s*(.+?)\s*-->", re.S)
# Blocks that are only parsed, by their first line: a new mark must be added here, with its reason.
MARKED = {
    "bash scripts/test.sh": "illustrative",  # the CI command that runs this very test
    'pip install "hokusai-ci[sign] @ git+https://github.com/hokusai/register-model"': "illustrative",  # github.com
    "docker build -t register-model .": "illustrative",  # pulls the base image from Docker Hub
    'docker run --rm -v "$PWD:/work" -w /work -e HOKUSAI_API_KEY \\': "illustrative",  # registry pull
    "register-model:": "illustrative",  # GitLab CI job, registry pull
    "stage('Register model') {": "illustrative",  # Jenkins pipeline, registry pull
    "version: 2.1": "illustrative",  # CircleCI job, registry pull
    "export HOKUSAI_API_KEY=hk_live_…": "illustrative",  # hosted API
    # aliases live in an MLflow server's registry; test_promotion.py runs these commands against one
    "hokusai model register --token-id XRAY --model-path out/model.pkl --metric auroc --metric-value 0.85 "
    "--baseline-from alias:champion --baseline 0.80 --set-alias candidate": "illustrative",
    "python bench/action_startup.py --rounds 2": "slow",
    ".venv/bin/python bench/run.py --gib --readme docs/benchmarks.md": "slow",
    "python bench/measured.py --readme docs/benchmarks.md": "slow",
}


@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    line: int
    mark: str | None
    reason: str | None
    page: str = "README.md"

    @property
    def first_line(self) -> str:
        """The first line without its comment: how MARKED names a block."""
        return self.text.splitlines()[0].split(" #")[0].rstrip()


def readme_blocks() -> list[Block]:
    """Every fenced block of the README and the docs pages, in reading order."""
    return [block for page in DOC_PAGES for block in page_blocks(page)]


def page_blocks(page: Path) -> list[Block]:
    tokens = MarkdownIt("commonmark").parse(page.read_text())
    found: list[Block] = []
    for i, token in enumerate(tokens):
        if token.type != "fence":
            continue
        before = tokens[i - 1] if i else None
        match = MARK.fullmatch(before.content.strip()) if before is not None and before.type == "html_block" else None
        found.append(
            Block(
                lang=token.info.strip(),
                text=token.content,
                line=(token.map or [0])[0] + 1,
                mark=match.group(1) if match else None,
                reason=match.group(2) if match else None,
                page=str(page.relative_to(REPO)),
            )
        )
    return found


BLOCKS = readme_blocks()


def block_id(block: Block) -> str:
    return f"{block.page}:L{block.line}-{block.lang}"


def test_marked_blocks_are_the_known_ones_and_say_why() -> None:
    marked = {b.first_line: b.mark for b in BLOCKS if b.mark}
    assert marked == MARKED
    for block in BLOCKS:
        if block.mark:
            assert block.reason and len(block.reason) > 10, block.first_line
            print(f"{block.page} line {block.line} ({block.mark}): {block.reason}")


# ---- every `hokusai …` command line, in any block, against the CLI's signatures


def command_lines(text: str) -> Iterator[list[str]]:
    """Each hokusai invocation in a shell-ish text, as argv after the program name."""
    joined = re.sub(r"\\\n\s*", " ", text)
    for line in joined.splitlines():
        line = line.split(" #", 1)[0]
        for pattern in (
            r"(?:^|[\s(\"'])hokusai(?:-ci)?\s+([a-z-].*)",
            r"register-model(?::\S+)?\s+(model\s.*|--version.*)",
        ):
            match = re.search(pattern, line)
            if match:
                words = shlex.split(match.group(1).strip().rstrip("'\")"), posix=True)
                yield [w for w in words if w not in (";", "&&")]
                break


def yaml_strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from yaml_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from yaml_strings(value)


def commands_in(block: Block) -> list[list[str]]:
    if block.lang == "yaml":
        data = yaml.safe_load(block.text)
        return [argv for text in yaml_strings(data) for argv in command_lines(" ".join(text.split("\n")))]
    if block.lang in ("bash", "groovy"):
        return list(command_lines(block.text))
    return []


def test_every_hokusai_command_in_the_readme_is_valid() -> None:
    tree = usage.describe(cli.Cli())
    checked = 0
    for block in BLOCKS:
        for argv in commands_in(block):
            node, rest = usage.resolve(tree, argv)
            if isinstance(node, usage.Group):
                assert rest in (["--version"], ["--help"]), (block.line, argv)
            else:
                usage.check(node, [a for a in rest if a != "--help"])
            checked += 1
    assert checked >= 12  # register, status, list, gate, completion, in shell, Jenkins, GitLab, CircleCI


# ---- YAML: workflows through actionlint, other CI configs by their keys


def _actionlint(workflow: dict[str, Any], where: Path) -> None:
    path = where / ".github" / "workflows" / "readme.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(workflow, sort_keys=False))
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("actionlint")), str(path)], capture_output=True, text=True, cwd=where
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_yaml_blocks_parse_and_lint(tmp_path: Path) -> None:
    previous_workflow: dict[str, Any] | None = None
    kinds: list[str] = []
    for block in (b for b in BLOCKS if b.lang == "yaml"):
        data = yaml.safe_load(block.text)
        if isinstance(data, dict) and "jobs" in data and True in data:  # `on:` reads as True in YAML 1.1
            previous_workflow = data
            _actionlint({"on" if k is True else k: v for k, v in data.items()}, tmp_path)
            kinds.append("workflow")
        elif isinstance(data, list):  # steps that continue the workflow before them
            assert previous_workflow is not None, block.line
            workflow = {"on" if k is True else k: v for k, v in previous_workflow.items()}
            job = next(iter(workflow["jobs"].values()))
            job["steps"] = [*job["steps"], *data]
            _actionlint(workflow, tmp_path)
            kinds.append("steps")
        elif isinstance(data, dict) and data.get("version") == 2.1:
            job = data["jobs"]["register"]
            assert job["machine"]["image"] and isinstance(job["steps"], list)
            assert "checkout" in job["steps"] and any(isinstance(s, dict) and "run" in s for s in job["steps"])
            kinds.append("circleci")
        elif isinstance(data, dict) and set(data) <= {"host", "port", "database", "username", "password", "url"}:
            from hokusai_ci.config.settings import load_settings

            config = tmp_path / "db.yaml"
            config.write_text(block.text)
            settings = load_settings({"db_config": str(config)}, {})
            assert settings.mode == "database" and "db.internal" in settings.store_description()
            assert "from-your-secret-store" not in settings.store_description()
            kinds.append("db-config")
        else:
            (job,) = data.values()  # GitLab CI: one job
            assert job["image"]["entrypoint"] == [""] and isinstance(job["script"], list)
            assert job["artifacts"]["reports"]["dotenv"] == "hokusai.env" and job["artifacts"]["when"] == "always"
            kinds.append("gitlab")
    # the third workflow (keyless signing) is linted by tests/test_signing.py too
    assert sorted(kinds) == sorted(
        ["workflow", "steps", "steps", "workflow", "workflow", "gitlab", "circleci", "db-config"]
    )


def test_the_json_example_matches_the_published_schema() -> None:
    (block,) = [b for b in BLOCKS if b.lang == "json"]
    jsonschema.validate(json.loads(block.text), result_schemas()["registration_result.v1.schema.json"])


# ---- Python


def _scratch_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOKUSAI_", "MLFLOW_", "PYTHONPATH"))}
    return {**env, **extra}


def test_the_python_api_snippet_runs_verbatim_in_an_empty_folder(tmp_path: Path) -> None:
    (block,) = [b for b in BLOCKS if b.lang == "python" and "register_model" in b.text]
    proc = subprocess.run(
        [sys.executable, "-c", block.text],
        cwd=tmp_path,
        env=_scratch_env(PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.fullmatch(r"Model registered with run ID: [0-9a-f]{32}, version 1\n", proc.stdout)


def test_the_receiver_snippet_accepts_a_signed_delivery_and_refuses_a_forged_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hokusai_ci.webhooks import signed_headers

    (block,) = [b for b in BLOCKS if b.lang == "python" and "def handle" in b.text]
    processed: list[dict[str, Any]] = []
    namespace: dict[str, Any] = {"already_seen": lambda event_id: False, "process": processed.append}
    exec(compile(block.text, "README.md", "exec"), namespace)
    secret = "whsec_" + "c2VjcmV0LWZvci10aGUtcmVhZG1lLXRlc3Q="
    monkeypatch.setenv("HOKUSAI_WEBHOOK_SECRET", secret)
    body = json.dumps({"event_id": "e1", "event_type": "model_registered"}).encode()
    namespace["handle"](body, signed_headers(body, secret, "e1", int(time.time())))
    assert processed == [{"event_id": "e1", "event_type": "model_registered"}]
    with pytest.raises(PermissionError):
        namespace["handle"](body.replace(b"e1", b"e2"), signed_headers(body, secret, "e1", int(time.time())))


# ---- shell blocks, run in order as a new user would


def _run_shell(text: str, cwd: Path, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", text], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"{text}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
    return proc


def test_marked_shell_blocks_are_valid_shell() -> None:
    for block in BLOCKS:
        if block.lang == "bash" and block.mark:
            proc = subprocess.run(["bash", "-n", "-c", block.text], capture_output=True, text=True)
            assert proc.returncode == 0, (block.line, proc.stderr)
        if block.mark == "slow":
            script = block.text.split()[1]
            assert (REPO / script).is_file(), script


@pytest.mark.servers  # installs the package into a fresh venv and runs the commands as printed
def test_shell_blocks_run_as_printed(tmp_path: Path) -> None:
    """In README order: demo, install into a fresh venv from a copy of the repository, then the
    commands with that venv's hokusai in a folder with the model file the text mentions."""
    clone = tmp_path / "hokusai-ci"
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.split()
    for rel in files:
        if (REPO / rel).is_file():
            (clone / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, clone / rel)
    work = tmp_path / "work"
    (work / "checkpoints").mkdir(parents=True)
    (work / "checkpoints" / "final_model.pkl").write_bytes(os.urandom(4096))
    env = _scratch_env()
    ran: list[str] = []
    for block in BLOCKS:
        if block.lang != "bash" or block.mark:
            continue
        if block.first_line.startswith("bash scripts/demo.sh"):
            out = _run_shell(block.text, clone, env)
            assert "Registered hokusai-DEMO-XRAY version 1" in out.stdout
        elif block.first_line.startswith("python3 -m venv .venv"):
            out = _run_shell(block.text, clone, env)
            assert out.stdout.strip().splitlines()[-1] == "0.1.0"
            env["PATH"] = f"{clone / '.venv' / 'bin'}:{env['PATH']}"  # what `. .venv/bin/activate` did
        elif "--links-within" in block.text:
            continue  # needs a Hugging Face cache layout: run as printed by tests/test_model_links.py
        elif block.first_line.startswith('eval "$(hokusai completion bash)"'):
            out = _run_shell(block.text + "\ncomplete -p hokusai", work, env)
            assert "complete -F _hokusai_complete hokusai" in out.stdout
        else:
            out = _run_shell(block.text, work, env)
            assert "Traceback" not in out.stderr
            if "--predictions" in block.text:  # the measured gate, with the quick start's metrics extra
                assert "(measured: 95% lower bound; 2000 rows)" in out.stdout
        ran.append(block.first_line.split()[0] + " " + block.first_line.split()[1])
    assert ran == [
        "bash scripts/demo.sh",
        "python3 -m",
        "hokusai token",
        "python3 -c",
        'eval "$(hokusai',
        "hokusai model",
        "python3 -c",
    ]
    listing = _run_shell("hokusai model list --output json", work, env).stdout
    assert [t["token_id"] for t in json.loads(listing)] == ["XRAY"]
    assert sorted(p.name for p in work.iterdir()) == [".hokusai", "checkpoints", "eval.csv"]


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation but '-' and '_' dropped, spaces as '-'."""
    tokens = MarkdownIt("commonmark").parse(page.read_text())
    return {
        re.sub(r"[^\w\- ]", "", tokens[i + 1].content.strip().lower()).replace(" ", "-")
        for i, token in enumerate(tokens)
        if token.type == "heading_open"
    }


def test_every_link_between_the_pages_resolves() -> None:
    """A newcomer follows links from the README into docs/ and back: each relative link names a
    file of the repository, and each #anchor a heading of that page."""
    checked = 0
    for page in DOC_PAGES:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path_text, _, anchor = target.partition("#")
            path = (page.parent / path_text).resolve() if path_text else page
            assert path.exists(), f"{page.name}: {target} names no file"
            if anchor:
                assert anchor in _anchors(path), f"{page.name}: {target} names no heading of {path.name}"
            checked += 1
    assert checked > 40


def test_the_development_page_names_every_module() -> None:
    """The code layout a newcomer reads names every module of the package under its layer's
    heading (and the public modules at the root), so a new one is placed."""
    text = (REPO / "docs" / "development.md").read_text()
    package = REPO / "hokusai_ci"
    missing = {p.name for p in package.glob("*.py") if f"`{p.name}`" not in text} - {"__init__.py"}
    for layer in (p for p in package.iterdir() if (p / "__init__.py").exists()):
        heading = f"\n### `{layer.name}/`\n"
        assert heading in text, f"no section for {layer.name}/"
        section = text.split(heading, 1)[1].split("\n#", 1)[0]
        names = {p.relative_to(layer).as_posix() for p in layer.rglob("*.py") if p.name != "__init__.py"}
        missing |= {f"{layer.name}/{n}" for n in names if f"`{n}`" not in section}
    assert not missing
