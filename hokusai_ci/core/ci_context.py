"""Provenance tags from the CI system running us (commit, ref, run URL), when there is one."""

from __future__ import annotations

import os
from collections.abc import Mapping

from hokusai_ci.config.redaction import display_url, redact
from hokusai_ci.config.validation import escape_control
from hokusai_ci.ports.tracking import TAG_PREFIX


def ci_tags(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    env = os.environ if environ is None else environ
    get = env.get
    if get("GITHUB_ACTIONS") == "true":
        server = get("GITHUB_SERVER_URL", "https://github.com")
        run_url = (
            f"{server}/{get('GITHUB_REPOSITORY')}/actions/runs/{get('GITHUB_RUN_ID')}"
            if get("GITHUB_REPOSITORY") and get("GITHUB_RUN_ID")
            else None
        )
        found = {
            "ci": "github-actions",
            "repository": get("GITHUB_REPOSITORY"),
            "commit": get("GITHUB_SHA"),
            "ref": get("GITHUB_REF"),
            "workflow": get("GITHUB_WORKFLOW_REF") or get("GITHUB_WORKFLOW"),
            "run_url": run_url,
        }
    elif get("GITLAB_CI") == "true":
        found = {
            "ci": "gitlab",
            "repository": get("CI_PROJECT_PATH"),
            "commit": get("CI_COMMIT_SHA"),
            "ref": get("CI_COMMIT_REF_NAME"),
            "run_url": get("CI_JOB_URL"),
        }
    elif get("CIRCLECI") == "true":
        found = {
            "ci": "circleci",
            "commit": get("CIRCLE_SHA1"),
            "ref": get("CIRCLE_BRANCH") or get("CIRCLE_TAG"),
            "run_url": get("CIRCLE_BUILD_URL"),
        }
    elif get("JENKINS_URL"):
        found = {"ci": "jenkins", "commit": get("GIT_COMMIT"), "ref": get("GIT_BRANCH"), "run_url": get("BUILD_URL")}
    else:
        return {}
    # CI variables can carry credentials (a clone URL with a job token): tags and events get none;
    # and line breaks (a workflow named `wf⏎::warning::…`): tags, statement and events get them escaped
    run_url = found.get("run_url")
    if run_url:  # shown without user, password or query, like every URL the tool prints
        found["run_url"] = display_url(run_url)
    return {f"{TAG_PREFIX}{k}": escape_control(redact(v)) for k, v in found.items() if v}
