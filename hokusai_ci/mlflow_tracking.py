"""MLflow adapter. Uploads model bytes as run artifacts and registers a version pointing at
them; never unpickles or imports the model. Imported only by commands that write.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from hokusai_ci.errors import Category, HokusaiError
from hokusai_ci.fingerprint import Fingerprint, ModelFile, upload_path
from hokusai_ci.progress import ProgressSink, heartbeat
from hokusai_ci.redaction import display_url, redact_data
from hokusai_ci.tracking import State, Tag, TrackedModel, UploadRequest

log = logging.getLogger("hokusai_ci.mlflow")
T = TypeVar("T")

# A user's own value wins; these defaults keep a dead server from stalling a CI job for minutes
# (MLflow's own default retries POSTs 7 times over ~4 minutes). MLflow's request timeout is
# requests' socket timeout: it bounds each wait for a byte, never a whole upload, so it is the
# stall timeout (set from HOKUSAI_STALL_TIMEOUT). A stalled call fails after
# (retries + 1) stall timeouts plus the backoff between them (~1 s, ~2 s, ...); the run's
# claim is renewed by its heartbeat meanwhile.
_ENV_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}
UPLOAD_WORKERS = 4  # parallel file uploads for directories: ~2x faster for many small files


class MlflowTracker:
    def __init__(self, uri: str, experiment: str, stall_timeout: float = 60.0, retries: int = 2) -> None:
        for key, value in _ENV_DEFAULTS.items():
            os.environ.setdefault(key, value)
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = f"{stall_timeout:g}"
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(retries)
        self.stall_timeout = stall_timeout
        self.attempts = retries + 1
        if uri.startswith("file:"):
            # the embedded local store; MLflow keeps file stores behind an explicit opt-in
            os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
        self.uri = uri
        self.experiment = experiment
        with self._mlflow_errors("connect to"):
            from mlflow import MlflowClient

            self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    def describe(self) -> str:
        return display_url(self.uri)

    @contextmanager
    def _mlflow_errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except HokusaiError:
            raise
        except Exception as exc:
            raise self._error(action, exc) from None

    def _error(self, action: str, exc: BaseException) -> HokusaiError:
        reason = " ".join(str(exc).split())
        code = getattr(exc, "error_code", None)
        hint = "check that the server is running, the URI is right and the credentials are valid"
        if _is_stall(exc, reason):
            code = None
            reason = f"no progress for {self.stall_timeout:g} s on each of {self.attempts} attempt(s)"
            hint = "check that the server is up and not overloaded, or raise HOKUSAI_STALL_TIMEOUT"
        if len(reason) > 300:
            reason = reason[:300] + "…"
        if code in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
            hint = "check the credentials (MLFLOW_TRACKING_TOKEN or username/password)"
        return HokusaiError(
            Category.MLFLOW_ERROR,
            f"could not {action} MLflow at {self.describe()}: {code + ': ' if code else ''}{reason}; {hint}",
            mlflow_uri=self.describe(),
        )

    def _call(self, action: str, fn: Callable[[], T]) -> T:
        with self._mlflow_errors(action):
            return fn()

    # -- Tracker -------------------------------------------------------------------------
    def check(self) -> None:
        self._call("reach", lambda: self.client.search_experiments(max_results=1))

    def find(self, token_id: str) -> list[TrackedModel]:
        versions = self._call("search", lambda: self.client.search_model_versions(f"tags.`{Tag.TOKEN}` = '{token_id}'"))
        live = [v for v in versions if v.tags.get(Tag.STATE) != State.SUPERSEDED]
        return [self._from_version(v) for v in sorted(live, key=lambda v: int(v.version))]

    def upload(self, request: UploadRequest, fp: Fingerprint, progress: ProgressSink) -> TrackedModel:
        experiment_id = self._call("create the experiment in", self._experiment_id)
        tags = {**redact_data(request.tags), Tag.CLAIM: request.claim_id}
        run = self._call(
            "create a run in",
            lambda: self.client.create_run(experiment_id, run_name=f"register-{request.token_id}", tags=tags),
        )
        run_id = run.info.run_id
        try:
            with self._mlflow_errors("upload the model to"):
                self.client.log_param(run_id, "metric", request.metric_name)
                self.client.log_param(run_id, "baseline", request.baseline)
                self.client.log_param(run_id, "direction", request.direction)
                self.client.log_metric(run_id, request.metric_name, request.metric_value)
                self._upload_files(run_id, fp, progress)
            with self._mlflow_errors("register the model version in"):
                self._ensure_registered_model(request.model_name)
                version = self.client.create_model_version(
                    request.model_name,
                    source=f"{run.info.artifact_uri}/model",
                    run_id=run_id,
                    tags={**tags, Tag.STATE: State.PENDING},
                    description=f"Registered by hokusai-ci for token {request.token_id}",
                )
                kept = self._drop_retried_duplicates(request.model_name, request.claim_id, int(version.version))
        except BaseException:
            self._best_effort(lambda: self.client.set_terminated(run_id, "FAILED"))
            raise
        tracked = self._tracked(request.model_name, str(kept), run_id)
        return tracked.model_copy(
            update={"sha256": fp.sha256, "claim_id": request.claim_id, "state": State.PENDING, "files": fp.files}
        )

    def tag(self, model: TrackedModel, tags: dict[str, str]) -> None:
        with self._mlflow_errors("tag the model version in"):
            for key, value in tags.items():
                self.client.set_model_version_tag(model.model_name, model.model_version, key, value)
                self.client.set_tag(model.run_id, key, value)

    def finish(self, model: TrackedModel, ok: bool) -> None:
        with self._mlflow_errors("end the run in"):
            self.client.set_terminated(model.run_id, "FINISHED" if ok else "FAILED")

    def _upload_files(self, run_id: str, fp: Fingerprint, progress: ProgressSink) -> None:
        """Stream each file as an artifact under `model/`; many small files go up in parallel
        (one request per file), and a heartbeat covers a single large file in flight."""

        def put(f: ModelFile) -> None:
            local = upload_path(fp, f)  # a followed link uploads its target's bytes under the link's name
            parent = os.path.dirname(f.relpath) if fp.is_dir else ""
            self.client.log_artifact(run_id, local, "model/" + parent if parent else "model")
            progress.advance(f.size)

        with heartbeat(progress):
            if len(fp.files) == 1:
                put(fp.files[0])
            else:
                pool = ThreadPoolExecutor(max_workers=UPLOAD_WORKERS)
                try:
                    for done in [pool.submit(put, f) for f in fp.files]:
                        done.result()
                except BaseException:
                    # a failed file or a signal: queued files are dropped, not uploaded first
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
                pool.shutdown()
        progress.finish()

    def discard(self, model: TrackedModel, reason: str) -> None:
        log.warning("removing %s version %s: %s", model.model_name, model.model_version, reason)
        self._best_effort(lambda: self.client.set_tag(model.run_id, Tag.STATE, State.SUPERSEDED))
        self._best_effort(
            lambda: self.client.set_model_version_tag(
                model.model_name, model.model_version, Tag.STATE, State.SUPERSEDED
            )
        )
        self._best_effort(lambda: self.client.delete_model_version(model.model_name, model.model_version))

    # -- signatures and verification ----------------------------------------------------
    def store_attestation(self, model: TrackedModel, files: dict[str, bytes]) -> str:
        from hokusai_ci.attestation import ATTESTATION_DIR

        with tempfile.TemporaryDirectory(prefix="hokusai-att-") as tmp:
            for name, data in files.items():
                (Path(tmp) / name).write_bytes(data)
            with self._mlflow_errors("store the signatures in"):
                self.client.log_artifacts(model.run_id, tmp, ATTESTATION_DIR)
                run = self.client.get_run(model.run_id)
        return f"{run.info.artifact_uri}/{ATTESTATION_DIR}"

    def read_version(self, name: str, version: str) -> tuple[TrackedModel, dict[str, str]]:
        from mlflow.exceptions import MlflowException

        try:
            v = self.client.get_model_version(name, version)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise HokusaiError(
                    Category.VERIFICATION_FAILED, f"models:/{name}/{version} does not exist in {self.describe()}"
                ) from None
            raise self._error("read the model version from", exc) from None
        except Exception as exc:
            raise self._error("read the model version from", exc) from None
        return self._from_version(v), dict(v.tags)

    def download(self, model: TrackedModel, artifact_path: str, dest: str) -> str | None:
        listed = self._call("list the artifacts in", lambda: self.client.list_artifacts(model.run_id, artifact_path))
        if not listed:
            return None
        return self._call(
            "download the artifacts from",
            lambda: str(self.client.download_artifacts(model.run_id, artifact_path, dest)),
        )

    # -- helpers -------------------------------------------------------------------------
    def _experiment_id(self) -> str:
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(self.experiment)
        if found is not None:
            return str(found.experiment_id)
        try:
            return str(self.client.create_experiment(self.experiment))
        except MlflowException as exc:  # another run created it first
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            again = self.client.get_experiment_by_name(self.experiment)
            assert again is not None
            return str(again.experiment_id)

    def _ensure_registered_model(self, name: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.create_registered_model(name, tags={Tag.MANAGED: "true"})
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise

    def _drop_retried_duplicates(self, name: str, claim_id: str, created: int) -> int:
        """A retried POST can create a version twice; keep the lowest, delete the rest."""
        versions = self.client.search_model_versions(f"name = '{name}' and tags.`{Tag.CLAIM}` = '{claim_id}'")
        numbers = sorted({int(v.version) for v in versions} | {created})
        for extra in numbers[1:]:
            log.warning("deleting duplicate version %s of %s created by a retried request", extra, name)
            self.client.delete_model_version(name, str(extra))
        return numbers[0]

    def _from_version(self, v: Any) -> TrackedModel:
        tracked = self._tracked(v.name, str(v.version), str(v.run_id))
        tags = v.tags
        return tracked.model_copy(
            update={"sha256": tags.get(Tag.SHA256), "claim_id": tags.get(Tag.CLAIM), "state": tags.get(Tag.STATE)}
        )

    def _tracked(self, name: str, version: str, run_id: str, reused: bool = False) -> TrackedModel:
        run_url = version_url = None
        if self.uri.startswith(("http://", "https://")):
            base = display_url(self.uri).rstrip("/")
            run_url = f"{base}/#/runs/{run_id}"
            version_url = f"{base}/#/models/{name}/versions/{version}"
        return TrackedModel(
            run_id=run_id,
            model_name=name,
            model_version=version,
            model_uri=f"models:/{name}/{version}",
            run_url=run_url,
            version_url=version_url,
            reused=reused,
        )

    @staticmethod
    def _best_effort(fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception as exc:
            log.debug("cleanup step failed: %s", exc)


def _is_stall(exc: BaseException, text: str) -> bool:
    """A request that ran out of its stall timeout (MLflow wraps requests' timeouts in text)."""
    import requests

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (requests.Timeout, TimeoutError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return "timed out" in text.lower() or "timeout" in text.lower()
