"""The names of the environment variables the tool reads: one table, so a variable is spelled
once. `settings.Env` is this table; adapters that pass MLflow's own variables on read it too."""

from __future__ import annotations


class Env:
    """Names of the environment variables the tool reads."""

    HOME = "HOKUSAI_HOME"
    LOG_LEVEL = "HOKUSAI_LOG_LEVEL"
    DB_CONFIG = "HOKUSAI_DB_CONFIG"
    DB_HOST = "HOKUSAI_DB_HOST"
    DB_PORT = "HOKUSAI_DB_PORT"
    DB_NAME = "HOKUSAI_DB_NAME"
    DB_USER = "HOKUSAI_DB_USER"
    DB_PASSWORD = "HOKUSAI_DB_PASSWORD"
    WEBHOOK_URL = "HOKUSAI_WEBHOOK_URL"
    WEBHOOK_TIMEOUT = "HOKUSAI_WEBHOOK_TIMEOUT"
    EXPERIMENT = "HOKUSAI_EXPERIMENT"
    LEASE_SECONDS = "HOKUSAI_LEASE_SECONDS"
    STORE_RETRY_SECONDS = "HOKUSAI_STORE_RETRY_SECONDS"
    STALL_TIMEOUT = "HOKUSAI_STALL_TIMEOUT"
    MLFLOW_RETRIES = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
    WEBHOOK_SECRET = "HOKUSAI_WEBHOOK_SECRET"
    WEBHOOK_ATTEMPTS = "HOKUSAI_WEBHOOK_ATTEMPTS"
    API_KEY = "HOKUSAI_API_KEY"
    API_URL = "HOKUSAI_API_URL"
    MODE = "HOKUSAI_MODE"
    MOCK_MODE = "HOKUSAI_MOCK_MODE"
    MLFLOW_TRACKING_URI = "MLFLOW_TRACKING_URI"
    MLFLOW_TRACKING_TOKEN = "MLFLOW_TRACKING_TOKEN"
    MLFLOW_S3_ENDPOINT_URL = "MLFLOW_S3_ENDPOINT_URL"  # MLflow's own; S3 uploads go there
    TRUST_HOSTS = "HOKUSAI_TRUST_HOSTS"
    SIGN = "HOKUSAI_SIGN"  # key | keyless | off
    SIGNING_KEY = "HOKUSAI_SIGNING_KEY"  # the PEM private key itself (a CI secret), not a path
    SIGSTORE_TRUST_CONFIG = "HOKUSAI_SIGSTORE_TRUST_CONFIG"  # keyless against a private Sigstore
    CONTAINER = "HOKUSAI_CONTAINER"  # set by the image's entrypoint: this run is the container
    CI = "CI"  # "true" on every hosted CI (GitHub, GitLab, CircleCI, ...)


# where `requests` finds a proxy (either case): a proxy URL's password is a secret like any other
PROXY_VARIABLES = tuple(name for upper in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY") for name in (upper, upper.lower()))
