#!/usr/bin/env python3
"""Container entrypoint, one image for every CI.

- No arguments inside GitHub Actions (INPUT_* set): run the Action.
- `model …`, `token …`, `events …`, `version`, `completion`, `--help`: run the `hokusai` CLI.
- Anything else (GitLab `script:`, Jenkins `cat`, `sh -c …`): run that command as given.
"""

from __future__ import annotations

import os
import sys

CLI_WORDS = {"model", "token", "events", "version", "completion", "--help", "-h"}


def main(argv: list[str]) -> int:
    if not argv:
        if os.environ.get("GITHUB_ACTIONS") == "true" or any(k.startswith("INPUT_") for k in os.environ):
            from hokusai_ci.faces.github import run_action

            return run_action()
        argv = ["--help"]
    if argv[0] in CLI_WORDS or argv[0].startswith("--"):
        from hokusai_ci.config.settings import Env
        from hokusai_ci.faces.cli import main as cli

        os.environ[Env.CONTAINER] = "true"  # API mode keeps its store in a temp folder; CI needs a key

        cli(argv)
        return 0
    os.execvp(argv[0], argv)  # replaces this process; never returns


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
