"""The anchor: what a user would write with MlflowClient to register a model by hand (the same
steps as `hokusai model register`: run with tags, params and metric, artifacts, version).

Usage: python bench/raw_client.py URI MODEL_PATH MODEL_NAME
"""

from __future__ import annotations

import os
import sys

from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException


def main(uri: str, path: str, name: str) -> None:
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("raw-client")
    experiment_id = experiment.experiment_id if experiment else client.create_experiment("raw-client")
    run = client.create_run(experiment_id, tags={"token": name})
    run_id = run.info.run_id
    client.log_batch(run_id, metrics=[Metric("auroc", 0.9, 0, 0)], params=[Param("baseline", "0.8")])
    if os.path.isdir(path):
        client.log_artifacts(run_id, path, "model")
    else:
        client.log_artifact(run_id, path, "model")
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id, tags={"token": name})
    client.set_terminated(run_id, "FINISHED")


if __name__ == "__main__":
    main(*sys.argv[1:4])
