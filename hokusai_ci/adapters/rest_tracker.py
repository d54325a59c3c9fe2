"""The lean MLflow tracker for http(s) servers: MLflow's REST API with `requests` only.

For runs whose artifact URI is `mlflow-artifacts:` (the server proxies artifacts, the default
since MLflow 2) each file goes up in one streaming PUT that is hashed and metered as it is
read (rest_artifacts.py), so a model is read once and `import mlflow` (>1 s) is never paid. An `s3://` root the
server does not proxy is written to directly (s3_upload.py); any other store (GCS, Azure, FTP,
...) through MLflow's own artifact repositories.

Requests of one registration: the raw MlflowClient's 8 steps, minus its `runs/get` before an
upload, plus the four calls marked * (the lookup that makes a re-run adopt an earlier upload,
the search for runs a dead run left RUNNING, the search for duplicates of the version, and the
one tag that marks the version registered once the token store committed), so 11:
  check            GET  experiments/get-by-name          (POST experiments/create the first time)
  find*            GET  model-versions/search            (versions of the token)
  running*         POST runs/search                      (the token's runs still RUNNING)
  upload           POST runs/create                      (tags)
                   PUT  mlflow-artifacts/artifacts/...   (one per file)
                   POST runs/log-batch                   (params, metric, sha256 tag)
                   POST registered-models/create
                   POST model-versions/create            (tags: status=not_registered)
                   GET  model-versions/search*           (duplicates of a resent create)
  tag*             POST model-versions/set-tag           (status=registered)
  finish           POST runs/update
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from hokusai_ci.adapters.mlflow_errors import MlflowApiError
from hokusai_ci.adapters.mlflow_http import HttpConfig, MlflowHttp, mlflow_error, tags_of
from hokusai_ci.adapters.rest_artifacts import PROXIED, artifacts_url, check_artifact_root, send_model
from hokusai_ci.config.redaction import display_url, redact_data, without_credentials
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.fingerprint import ModelFile
from hokusai_ci.domain.progress import ProgressSink
from hokusai_ci.domain.streaming import ModelSource
from hokusai_ci.ports.tracking import Status, Tag, TrackedModel, UploadRequest, never_removed

log = logging.getLogger("hokusai_ci.mlflow")


def _kv(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items()]


class RestTracker:
    """`http` is the client to use; without one, a client configured from MLflow's variables."""

    def __init__(self, uri: str, experiment: str, http: MlflowHttp | None = None) -> None:
        self.uri = uri
        self.experiment = experiment
        self.http = http or MlflowHttp(uri, HttpConfig.from_environ())
        self._experiment_id: str | None = None
        self._looked_up = False  # check() already asked for the experiment
        self._artifact_location = ""  # the experiment's artifact root, once looked up

    def describe(self) -> str:
        return display_url(self.uri)

    @contextmanager
    def _step(self, action: str) -> Iterator[None]:
        import requests

        try:
            yield
        except HokusaiError:
            raise
        except MlflowApiError as exc:
            raise mlflow_error(self.uri, action, exc.code, str(exc)) from None
        except requests.RequestException as exc:
            raise mlflow_error(self.uri, action, None, _reason(exc), exc, self.http.config) from None
        except OSError as exc:
            reason = f"{exc.__class__.__name__}: {exc.strerror or exc}"
            raise mlflow_error(self.uri, action, None, reason, exc, self.http.config) from None
        except (KeyError, TypeError, ValueError) as exc:  # an answer that is not MLflow's
            raise mlflow_error(
                self.uri,
                action,
                None,
                f"unexpected answer ({exc.__class__.__name__}: {exc}); is this an MLflow server?",
            ) from None

    # -- Tracker -------------------------------------------------------------------------
    def check(self) -> None:
        with self._step("reach"):
            self._experiment_id = self._lookup_experiment()
            self._looked_up = True
        if self._artifact_location.startswith("s3://"):  # written directly: boto3 is needed
            from hokusai_ci.adapters.s3_upload import S3_MODULES
            from hokusai_ci.config.validation import require_extra

            require_extra("s3", display_url(self._artifact_location), S3_MODULES)

    def find(self, token_id: str) -> list[TrackedModel]:
        with self._step("search"):
            return [self._from_version(v) for v in self.http.live_versions(token_id)]

    def upload(self, request: UploadRequest, model: ModelSource, progress: ProgressSink) -> TrackedModel:
        with self._step("create the experiment in"):
            experiment_id = (
                self._experiment_id
                or (None if self._looked_up else self._lookup_experiment())
                or self._create_experiment()
            )
        run_tags = {**redact_data(request.tags), Tag.CLAIM: request.claim_id}
        with self._step("create a run in"):
            run = self.http.call(
                "POST",
                "runs/create",
                json={
                    "experiment_id": experiment_id,
                    "run_name": f"register-{request.token_id}",
                    "start_time": int(time.time() * 1000),
                    "tags": _kv(run_tags),
                },
                idempotent=False,
            )["run"]["info"]
        run_id, artifact_uri = str(run["run_id"]), str(run["artifact_uri"])
        partial = TrackedModel(
            run_id=run_id, model_name=request.model_name, model_version="", model_uri="", claim_id=request.claim_id
        )
        try:
            with self._step("upload the model to"):
                sent = self._send(artifact_uri, model, progress)
            sha256 = model.digest(sent)
            with self._step("log the run's parameters in"):
                self._log_batch(
                    run_id,
                    params={"metric": request.metric_name, "baseline": repr(request.baseline),
                            "direction": request.direction},
                    metrics={request.metric_name: request.metric_value},
                    tags={Tag.SHA256: sha256},
                )  # fmt: skip
            with self._step("register the model version in"):
                version = self._create_version(request, run_id, f"{artifact_uri}/model", sha256)
        except BaseException:
            self.finish(partial, ok=False)
            raise
        return self._tracked(
            request.model_name,
            version,
            run_id,
            sha256=sha256,
            claim_id=request.claim_id,
            status=Status.NOT_REGISTERED,
            files=sent,
        )

    def tag(self, model: TrackedModel, tags: Mapping[str, str | None]) -> None:
        ref = {"name": model.model_name, "version": model.model_version}
        with self._step("tag the model version in"):
            for key, value in tags.items():
                if value is not None:
                    self.http.call("POST", "model-versions/set-tag", json={**ref, "key": key, "value": value})
                    continue
                try:
                    self.http.call("DELETE", "model-versions/delete-tag", json={**ref, "key": key})
                except MlflowApiError as exc:
                    if exc.status != 404 and exc.code != "RESOURCE_DOES_NOT_EXIST":
                        raise

    def finish(self, model: TrackedModel, ok: bool) -> None:
        """FINISHED or FAILED. Best effort when failing: the error that brought us here is the
        one to report."""
        status = {"run_id": model.run_id, "status": "FINISHED" if ok else "FAILED", "end_time": int(time.time() * 1000)}
        if ok:
            with self._step("finish the run in"):
                self.http.call("POST", "runs/update", json=status)
            return
        self._best_effort(lambda: self.http.call("POST", "runs/update", json=status))

    def discard(self, model: TrackedModel, reason: str) -> None:
        if never_removed(model):
            return
        log.warning("removing %s version %s: %s", model.model_name, model.model_version, reason)
        ref = {"name": model.model_name, "version": model.model_version}
        self._best_effort(
            lambda: self.http.call(
                "POST", "model-versions/set-tag", json={**ref, "key": Tag.STATUS, "value": Status.SUPERSEDED}
            )
        )
        self._best_effort(lambda: self.http.call("DELETE", "model-versions/delete", json=ref))

    def running(self, token_id: str) -> list[tuple[str, str | None]]:
        with self._step("search the runs in"):
            experiment_id = self._experiment_id or self._lookup_experiment()
            if experiment_id is None:
                return []
            found = self.http.call(
                "POST",
                "runs/search",
                json={
                    "experiment_ids": [experiment_id],
                    "filter": f"tags.`{Tag.TOKEN}` = '{token_id}' and attributes.status = 'RUNNING'",
                    "max_results": 1000,
                },
            ).get("runs", [])
        return [(str(r["info"]["run_id"]), tags_of(r.get("data", {})).get(Tag.CLAIM)) for r in found]

    def end_run(self, run_id: str, status: str) -> None:
        update = {"run_id": run_id, "status": status, "end_time": int(time.time() * 1000)}
        self._best_effort(lambda: self.http.call("POST", "runs/update", json=update))

    # -- upload --------------------------------------------------------------------------
    def _send(
        self, artifact_uri: str, model: ModelSource, progress: ProgressSink, folder: str = "model"
    ) -> list[ModelFile]:
        return send_model(self.http, self.uri, artifact_uri, model, progress, folder)

    def store_evidence(
        self, model: TrackedModel, folder: str, files: list[ModelSource], progress: ProgressSink
    ) -> tuple[str, list[ModelFile]]:
        """Beside `model/`, by the model's route, each file streamed and hashed as it is sent."""
        with self._step("store the evidence in"):
            run = self.http.call("GET", "runs/get", params={"run_id": model.run_id})["run"]["info"]
            artifact_uri = str(run["artifact_uri"])
            sent = [f for source in files for f in self._send(artifact_uri, source, progress, folder)]
        return f"{without_credentials(artifact_uri)}/{folder}", sent

    # -- signatures ------------------------------------------------------------------------
    def store_attestation(self, model: TrackedModel, files: dict[str, bytes]) -> str:
        """Beside `model/`, by the model's route: PUT to the server when it proxies artifacts,
        else straight to the store (S3 with the model's client, others via MLflow's repository)."""
        from hokusai_ci.domain.attestation import ATTESTATION_DIR, attestation_folder

        try:  # whatever the route, bundles that cannot be stored are a signing failure (exit 12)
            with self._step("store the signatures in"):
                run = self.http.call("GET", "runs/get", params={"run_id": model.run_id})["run"]["info"]
                artifact_uri = str(run["artifact_uri"])
                if artifact_uri.startswith(PROXIED):
                    base = artifacts_url(self.http, artifact_uri)
                    for name, data in files.items():
                        url = f"{base}/{ATTESTATION_DIR}/{name}"
                        MlflowHttp.answer(self.http.send("PUT", url, True, data=data), strict=False)
        except HokusaiError as err:
            raise HokusaiError(Category.SIGNING_FAILED, err.message) from None
        if not artifact_uri.startswith(PROXIED):
            check_artifact_root(self.http, self.uri, artifact_uri)
            from hokusai_ci.adapters.artifact_repo import store_files

            store_files(artifact_uri, ATTESTATION_DIR, files, self.http.config)
        return attestation_folder(artifact_uri)

    # -- helpers -------------------------------------------------------------------------
    def _lookup_experiment(self) -> str | None:
        try:
            found = self.http.call("GET", "experiments/get-by-name", params={"experiment_name": self.experiment})
        except MlflowApiError as exc:
            if exc.code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        self._artifact_location = str(found["experiment"].get("artifact_location", ""))
        return str(found["experiment"]["experiment_id"])

    def _create_experiment(self) -> str:
        try:
            created = self.http.call("POST", "experiments/create", json={"name": self.experiment}, idempotent=False)
        except MlflowApiError as exc:  # another run created it first
            if exc.code != "RESOURCE_ALREADY_EXISTS":
                raise
            again = self._lookup_experiment()
            assert again is not None
            return again
        return str(created["experiment_id"])

    def _log_batch(
        self,
        run_id: str,
        params: dict[str, str] | None = None,
        metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        now = int(time.time() * 1000)
        self.http.call(
            "POST",
            "runs/log-batch",
            json={
                "run_id": run_id,
                "params": _kv(params or {}),
                "metrics": [{"key": k, "value": v, "timestamp": now, "step": 0} for k, v in (metrics or {}).items()],
                "tags": _kv(tags or {}),
            },
        )

    def _create_version(self, request: UploadRequest, run_id: str, source: str, sha256: str) -> str:
        try:  # one call either way: the default model name is new for every token
            self.http.call("POST", "registered-models/create",
                           json={"name": request.model_name, "tags": _kv({Tag.MANAGED: "true"})})  # fmt: skip
        except MlflowApiError as exc:
            if exc.code != "RESOURCE_ALREADY_EXISTS":
                raise
        tags = {**request.tags, Tag.CLAIM: request.claim_id, Tag.SHA256: sha256, Tag.STATUS: Status.NOT_REGISTERED}
        created = self.http.call(
            "POST",
            "model-versions/create",
            json={
                "name": request.model_name,
                "source": source,
                "run_id": run_id,
                "tags": _kv(tags),
                "description": f"Registered by hokusai-ci for token {request.token_id}",
            },
        )
        return self._drop_retried_duplicates(
            request.model_name, request.claim_id, int(created["model_version"]["version"])
        )

    def _drop_retried_duplicates(self, name: str, claim_id: str, created: int) -> str:
        """A POST sent twice may have created the version twice (an answer lost after the server
        acted, and the request resent by us or by a proxy in between): keep the lowest, delete
        the rest. Searched after every creation, since a resend by a proxy leaves no trace here."""
        versions = self.http.search_versions(f"name = '{name}' and tags.`{Tag.CLAIM}` = '{claim_id}'")
        numbers = sorted({int(v["version"]) for v in versions} | {created})
        for extra in numbers[1:]:
            log.warning("deleting duplicate version %s of %s created by a retried request", extra, name)
            self.http.call("DELETE", "model-versions/delete", json={"name": name, "version": str(extra)})
        return str(numbers[0])

    def _from_version(self, v: dict[str, Any]) -> TrackedModel:
        tags = v["tags"]
        return self._tracked(
            str(v["name"]),
            str(v["version"]),
            str(v.get("run_id", "")),
            reused=True,
            sha256=tags.get(Tag.SHA256),
            claim_id=tags.get(Tag.CLAIM),
            status=tags.get(Tag.STATUS),
            platform_sent=tags.get(Tag.PLATFORM_SENT),
            evidence_uri=tags.get(Tag.EVIDENCE_URI),
        )

    def _tracked(self, name: str, version: str, run_id: str, **extra: Any) -> TrackedModel:
        base = display_url(self.uri).rstrip("/")
        return TrackedModel(
            run_id=run_id,
            model_name=name,
            model_version=version,
            model_uri=f"models:/{name}/{version}",
            run_url=f"{base}/#/runs/{run_id}",
            version_url=f"{base}/#/models/{name}/versions/{version}",
            **extra,
        )

    @staticmethod
    def _best_effort(fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception as exc:
            log.debug("cleanup step failed: %s", exc)


def _reason(exc: BaseException) -> str:
    """A requests failure in a few words, without the URL (it may carry credentials)."""
    import requests

    if isinstance(exc, requests.Timeout):
        return f"no answer within the timeout (MLFLOW_HTTP_REQUEST_TIMEOUT) ({exc.__class__.__name__})"
    if isinstance(exc, requests.ConnectionError):
        return f"cannot connect or the connection was cut ({exc.__class__.__name__})"
    return exc.__class__.__name__
