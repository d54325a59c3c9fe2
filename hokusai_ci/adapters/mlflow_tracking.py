"""MLflow adapter over MLflow's own client, for stores the lean REST path does not cover: the
embedded `file:` store, `databricks`, and any URI that is not plain http(s). Uploads model
bytes as run artifacts and registers a version pointing at them; never unpickles or imports
the model. Imported only by commands that write.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from hokusai_ci.adapters.artifact_repo import store_files, upload_with_repository
from hokusai_ci.adapters.mlflow_http import HttpConfig, mlflow_environ, mlflow_error
from hokusai_ci.config.redaction import display_url, redact_data, without_credentials
from hokusai_ci.config.settings import Env
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.fingerprint import ModelFile
from hokusai_ci.domain.progress import ProgressSink
from hokusai_ci.domain.streaming import ModelSource
from hokusai_ci.ports.tracking import Status, Tag, TrackedModel, UploadRequest, never_removed

log = logging.getLogger("hokusai_ci.mlflow")
T = TypeVar("T")


class MlflowTracker:
    """`config` is what MLflow's client is told (credentials, stall timeout, retries), through
    the environment it reads, for the length of each call; without one, MLflow's variables."""

    def __init__(self, uri: str, experiment: str, config: HttpConfig | None = None) -> None:
        self.uri = uri
        self.experiment = experiment
        self.config = config or HttpConfig.from_environ()
        with self._mlflow_errors("connect to"):
            from mlflow import MlflowClient

            self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    def describe(self) -> str:
        return display_url(self.uri)

    @contextmanager
    def _default_store(self) -> Iterator[None]:
        """Every call into MLflow runs here, with its variables set from `config` (and put back
        after: `mlflow_environ`).

        MLflow's registry file store reads versions through a client on the global tracking
        URI (its own TODO says so); left to the default, MLflow 3 opens a sqlite store and
        creates ./mlflow.db in the working directory. For a file store, the global URI is this
        store while MLflow works, and is put back after (it is process-wide state, and
        MLflow mirrors it into the environment children inherit)."""
        if not self.uri.startswith("file:"):
            with mlflow_environ(self.config):
                yield
            return
        # the embedded local store; MLflow keeps file stores behind an explicit opt-in
        with mlflow_environ(self.config, MLFLOW_ALLOW_FILE_STORE="true"), self._global_uri():
            yield

    @contextmanager
    def _global_uri(self) -> Iterator[None]:
        import mlflow

        before = os.environ.get(Env.MLFLOW_TRACKING_URI)
        was_set = mlflow.is_tracking_uri_set()  # type: ignore[no-untyped-call]
        previous = mlflow.get_tracking_uri() if was_set else None
        mlflow.set_tracking_uri(self.uri)
        try:
            yield
        finally:
            mlflow.set_tracking_uri(previous)  # type: ignore[arg-type]  # None unsets it
            if before is None:
                os.environ.pop(Env.MLFLOW_TRACKING_URI, None)
            else:
                os.environ[Env.MLFLOW_TRACKING_URI] = before

    @contextmanager
    def _mlflow_errors(self, action: str) -> Iterator[None]:
        try:
            with self._default_store():
                yield
        except HokusaiError:
            raise
        except Exception as exc:
            raise self._error(action, exc) from None

    def _error(self, action: str, exc: BaseException) -> HokusaiError:
        return mlflow_error(self.uri, action, getattr(exc, "error_code", None), str(exc), exc, self.config)

    def _call(self, action: str, fn: Callable[[], T]) -> T:
        with self._mlflow_errors(action):
            return fn()

    # -- Tracker -------------------------------------------------------------------------
    def check(self) -> None:
        self._call("reach", lambda: self.client.search_experiments(max_results=1))

    def find(self, token_id: str) -> list[TrackedModel]:
        versions = self._call("search", lambda: self.client.search_model_versions(f"tags.`{Tag.TOKEN}` = '{token_id}'"))
        found = [
            self._tracked(
                v.name,
                str(v.version),
                str(v.run_id),
                reused=True,
                sha256=v.tags.get(Tag.SHA256),
                claim_id=v.tags.get(Tag.CLAIM),
                status=v.tags.get(Tag.STATUS),
                platform_sent=v.tags.get(Tag.PLATFORM_SENT),
                evidence_uri=v.tags.get(Tag.EVIDENCE_URI),
            )
            for v in versions
        ]
        return sorted((m for m in found if m.status != Status.SUPERSEDED), key=lambda m: int(m.model_version))

    def upload(self, request: UploadRequest, model: ModelSource, progress: ProgressSink) -> TrackedModel:
        from mlflow.entities import Metric, Param, RunTag

        experiment_id = self._call("create the experiment in", self._experiment_id)
        tags = {**redact_data(request.tags), Tag.CLAIM: request.claim_id}
        run = self._call(
            "create a run in",
            lambda: self.client.create_run(experiment_id, run_name=f"register-{request.token_id}", tags=tags),
        )
        run_id = run.info.run_id
        partial = TrackedModel(
            run_id=run_id, model_name=request.model_name, model_version="", model_uri="", claim_id=request.claim_id
        )
        try:
            with self._mlflow_errors("upload the model to"):
                sent = upload_with_repository(run.info.artifact_uri, model, progress, self.config)
            sha256 = model.digest(sent)
            with self._mlflow_errors("log the run's parameters in"):
                now = int(time.time() * 1000)
                self.client.log_batch(
                    run_id,
                    metrics=[Metric(request.metric_name, request.metric_value, now, 0)],
                    params=[
                        Param("metric", request.metric_name),
                        Param("baseline", repr(request.baseline)),
                        Param("direction", request.direction),
                    ],
                    tags=[RunTag(Tag.SHA256, sha256)],
                )
            with self._mlflow_errors("register the model version in"):
                self._ensure_registered_model(request.model_name)
                version = self.client.create_model_version(
                    request.model_name,
                    source=f"{run.info.artifact_uri}/model",
                    run_id=run_id,
                    tags={**tags, Tag.SHA256: sha256, Tag.STATUS: Status.NOT_REGISTERED},
                    description=f"Registered by hokusai-ci for token {request.token_id}",
                )
                kept = self._drop_retried_duplicates(request.model_name, request.claim_id, int(version.version))
        except BaseException:
            self.finish(partial, ok=False)
            raise
        return self._tracked(
            request.model_name,
            str(kept),
            run_id,
            sha256=sha256,
            claim_id=request.claim_id,
            status=Status.NOT_REGISTERED,
            files=tuple(sent),
        )

    def tag(self, model: TrackedModel, tags: Mapping[str, str | None]) -> None:
        from mlflow.exceptions import MlflowException

        with self._mlflow_errors("tag the model version in"):
            for key, value in tags.items():
                if value is not None:
                    self.client.set_model_version_tag(model.model_name, model.model_version, key, value)
                    continue
                try:
                    self.client.delete_model_version_tag(model.model_name, model.model_version, key)
                except MlflowException as exc:
                    if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                        raise

    def finish(self, model: TrackedModel, ok: bool) -> None:
        """FINISHED or FAILED (best effort when failing: the error that brought us here is the
        one to report)."""
        if ok:
            self._call("finish the run in", lambda: self.client.set_terminated(model.run_id, "FINISHED"))
            return
        self._best_effort(lambda: self.client.set_terminated(model.run_id, "FAILED"))

    def discard(self, model: TrackedModel, reason: str) -> None:
        if never_removed(model):
            return
        log.warning("removing %s version %s: %s", model.model_name, model.model_version, reason)
        self._best_effort(
            lambda: self.client.set_model_version_tag(
                model.model_name, model.model_version, Tag.STATUS, Status.SUPERSEDED
            )
        )
        self._best_effort(lambda: self.client.delete_model_version(model.model_name, model.model_version))

    def running(self, token_id: str) -> list[tuple[str, str | None]]:
        def search() -> list[tuple[str, str | None]]:
            found = self.client.get_experiment_by_name(self.experiment)
            if found is None:
                return []
            runs = self.client.search_runs(
                [found.experiment_id],
                filter_string=f"tags.`{Tag.TOKEN}` = '{token_id}' and attributes.status = 'RUNNING'",
                max_results=1000,
            )
            return [(r.info.run_id, r.data.tags.get(Tag.CLAIM)) for r in runs]

        return self._call("search the runs in", search)

    def end_run(self, run_id: str, status: str) -> None:
        self._best_effort(lambda: self.client.set_terminated(run_id, status))

    # -- signatures and verification ----------------------------------------------------
    def store_attestation(self, model: TrackedModel, files: dict[str, bytes]) -> str:
        """Beside `model/`, by the model's route (`artifact_repo`: S3 direct, local, or MLflow's
        repository)."""
        from hokusai_ci.domain.attestation import ATTESTATION_DIR, attestation_folder

        run = self._call("read the run's artifact location from", lambda: self.client.get_run(model.run_id))
        store_files(run.info.artifact_uri, ATTESTATION_DIR, files, self.config)
        return attestation_folder(run.info.artifact_uri)

    def store_evidence(
        self, model: TrackedModel, folder: str, files: list[ModelSource], progress: ProgressSink
    ) -> tuple[str, list[ModelFile]]:
        """Beside `model/`, by the model's route (`artifact_repo`)."""
        run = self._call("read the run's artifact location from", lambda: self.client.get_run(model.run_id))
        root = str(run.info.artifact_uri)
        with self._mlflow_errors("store the evidence in"):
            sent = [f for s in files for f in upload_with_repository(root, s, progress, self.config, folder)]
        return f"{without_credentials(root)}/{folder}", sent

    def read_version(self, name: str, version: str) -> tuple[TrackedModel, dict[str, str]]:
        from mlflow.exceptions import MlflowException

        try:
            with self._default_store():
                v = self.client.get_model_version(name, version)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise HokusaiError(
                    Category.MODEL_NOT_FOUND,
                    f"models:/{name}/{version} does not exist in the registry at {self.describe()}: check the model "
                    "name and version number (`hokusai model status --token-id X` names a token's version), and "
                    "--mlflow-uri or MLFLOW_TRACKING_URI",
                ) from None
            raise self._error("read the model version from", exc) from None
        except Exception as exc:
            raise self._error("read the model version from", exc) from None
        if not v.run_id or str(v.version) != str(version):  # an answer with no version in it
            raise HokusaiError(
                Category.MLFLOW_ERROR,
                f"the server at {self.describe()} answered without models:/{name}/{version} in its answer: "
                "is this an MLflow server? check --mlflow-uri or MLFLOW_TRACKING_URI",
            )
        tags = dict(v.tags)
        run = self._call("read the version's run from", lambda: self.client.get_run(str(v.run_id)))
        tracked = self._tracked(
            v.name,
            str(v.version),
            str(v.run_id),
            sha256=tags.get(Tag.SHA256),
            claim_id=tags.get(Tag.CLAIM),
            status=tags.get(Tag.STATUS),
            artifact_uri=str(run.info.artifact_uri),
        )
        return tracked, tags

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

    def _tracked(self, name: str, version: str, run_id: str, **extra: Any) -> TrackedModel:
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
            **extra,
        )

    def _best_effort(self, fn: Callable[[], Any]) -> None:
        try:
            with self._default_store():
                fn()
        except Exception as exc:
            log.debug("cleanup step failed: %s", exc)
