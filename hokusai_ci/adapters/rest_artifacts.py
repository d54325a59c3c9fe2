"""Model files to an MLflow server that proxies artifacts (`mlflow-artifacts:`, the default since
MLflow 2): one streaming PUT per file, hashed and metered as it is read, so a model is read once.
Any other artifact root goes through s3_upload.py or MLflow's own repositories, and an http(s)
root on another host than the server gets nothing: the server's credentials stay with it. A
local root (`file:` or a path) named by a remote server gets nothing either: the files would land
on this machine's disk, lost with the CI runner, while the server records them as stored.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, urlsplit

from hokusai_ci.adapters.mlflow_http import MlflowHttp
from hokusai_ci.config.redaction import display_url
from hokusai_ci.domain import streaming
from hokusai_ci.domain.errors import Category, HokusaiError
from hokusai_ci.domain.fingerprint import ModelFile
from hokusai_ci.domain.progress import FileMeter, ProgressSink
from hokusai_ci.domain.streaming import HashingReader, ModelSource

# The size of each read, and so of each write, of a streaming PUT, chosen from bench/run.py (the
# "write size" rows). On loopback MLflow's server CPU bounds the transfer, and it spends less of
# it per byte when the client hands over a few KiB at a time than 1 MiB: across trial and
# benchmark runs, 16, 32 and 64 KiB took 0.88-1.08x the time of `curl -T` (which writes 64 KiB),
# changing places from run to run, 128 KiB 1.00x and 1 MiB 1.08-1.15x. Of the good range 64 KiB
# costs the client least: the sending thread makes a read, a queue hand-off and a progress update
# per write (the hashing thread only hashes), 1.6-1.8 s of CPU per GiB here against 2.0-2.6 s at
# 32 KiB, and on a 2 GiB trial it was the fastest (0.89x curl's time; 32 KiB 0.94x). Reading 1 MiB
# and sending it in slices costs the client less still but took 1.09-1.14x the time of 32 KiB
# reads, so each read is a write.
PUT_CHUNK = 64 * 1024
PROXIED = "mlflow-artifacts:"


def send_model(
    http: MlflowHttp, uri: str, artifact_uri: str, model: ModelSource, progress: ProgressSink, folder: str = "model"
) -> list[ModelFile]:
    """Each file of the model to the run's artifact root: one streaming, hashed, metered PUT per
    file when the server proxies artifacts, else through the store's own route."""
    check_artifact_root(http, uri, artifact_uri)
    if not artifact_uri.startswith(PROXIED):
        from hokusai_ci.adapters.artifact_repo import upload_with_repository

        return upload_with_repository(artifact_uri, model, progress, http.config, folder)
    base = artifacts_url(http, artifact_uri)

    def put(f: ModelFile) -> ModelFile:
        dest = f"{base}/{folder}/{quote(f.relpath)}"
        readers: list[HashingReader] = []
        meter = FileMeter(progress)

        def body() -> HashingReader:  # a fresh reader (and digest) for each try
            for old in readers:
                old.close()
            meter.restart()
            readers.append(HashingReader(model.local(f), meter, chunk=PUT_CHUNK))
            return readers[-1]

        try:
            MlflowHttp.answer(http.send("PUT", dest, True, data=body), strict=False)
            reader = readers[-1]
            return ModelFile(f.relpath, reader.sent, reader.hexdigest())
        finally:
            for reader in readers:
                reader.close()

    if len(model.files) == 1:
        sent = [put(model.files[0])]
    else:
        pool = ThreadPoolExecutor(max_workers=streaming.UPLOAD_WORKERS)
        try:
            sent = list(pool.map(put, model.files))
        except BaseException:
            # a failed file or a signal: queued files are dropped, not uploaded first
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
    progress.finish()
    return sent


def check_artifact_root(http: MlflowHttp, uri: str, artifact_uri: str) -> None:
    """Refuse, before a byte is written, an artifact root the model would not be stored at:
    a local one (`file:` or a path), which MLflow's own client writes on this machine although
    the server is elsewhere, or an http(s) one on another host than the server, which MLflow's
    own client would send the server's credentials (and the API key)."""
    scheme = urlsplit(artifact_uri).scheme.lower()
    if scheme in ("", "file") or len(scheme) == 1:  # a path, a file: URI, a Windows drive (C:\…)
        raise HokusaiError(
            Category.MLFLOW_ERROR,
            f"the MLflow server at {display_url(uri)} names {display_url(artifact_uri)} as this run's "
            "artifact root, a folder on the machine that writes: the model would stay on this machine's "
            "disk while the server records it as stored; have the server proxy artifacts "
            "(`mlflow server --serve-artifacts`) or use an object store (s3://…) as its artifact root",
        )
    if artifact_uri.split(":", 1)[0].lower() in ("http", "https") and not http.same_origin(artifact_uri):
        raise HokusaiError(
            Category.MLFLOW_ERROR,
            f"the MLflow server at {display_url(uri)} names {display_url(artifact_uri)} as this run's "
            "artifact store, another host than the server; hokusai-ci sends the server's credentials to no "
            "other host: have the server proxy artifacts (`mlflow server --serve-artifacts`)",
        )


def artifacts_url(http: MlflowHttp, artifact_uri: str) -> str:
    """`mlflow-artifacts:/0/<run>/artifacts` → `<server>/api/2.0/mlflow-artifacts/artifacts/0/<run>/artifacts`
    (MLflow's own resolution; a host in the URI names the server to use)."""
    parts = urlsplit(artifact_uri)
    base = http.base
    if parts.netloc:
        scheme = urlsplit(http.base).scheme
        base = f"{scheme}://{parts.netloc}"
    return f"{base}/api/2.0/mlflow-artifacts/artifacts/{parts.path.lstrip('/')}"
