# One image for every CI: the GitHub Action (no arguments, INPUT_* set), `docker run IMAGE model
# register …` anywhere, or any other command (GitLab `entrypoint: [""]`, Jenkins `inside`).
#
# BASE_IMAGE: a Debian-based image with python3 (3.11+) and its venv module. The official slim
# image by default; tests build on a Debian base made from Debian packages.
ARG BASE_IMAGE=python:3.12-slim-bookworm

FROM ${BASE_IMAGE} AS build
COPY . /src
# With a wheelhouse in the build context (wheels/), the build needs no network at all.
# The `metrics` extra (numpy) runs the measured gate (--predictions); parquet (pyarrow) is left out.
RUN python3 -m venv /opt/hokusai \
    && if ls /src/wheels/*.whl >/dev/null 2>&1; then \
         /opt/hokusai/bin/pip install --no-cache-dir --no-index --find-links /src/wheels \
           --constraint /src/docker/constraints.txt "hokusai-ci[postgres,sign,s3,metrics]"; \
       else \
         /opt/hokusai/bin/pip install --no-cache-dir --constraint /src/docker/constraints.txt "/src[postgres,sign,s3,metrics]"; \
       fi \
    && /opt/hokusai/bin/pip uninstall --yes pip \
    && cp /src/entrypoint.py /opt/hokusai/entrypoint.py \
    && /opt/hokusai/bin/python -m compileall -q /opt/hokusai/entrypoint.py

FROM ${BASE_IMAGE}
COPY --from=build /opt/hokusai /opt/hokusai
ENV PATH=/opt/hokusai/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MLFLOW_DISABLE_TELEMETRY=true
ENTRYPOINT ["/opt/hokusai/bin/python", "/opt/hokusai/entrypoint.py"]
