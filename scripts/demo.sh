#!/usr/bin/env bash
# The main job on the embedded defaults: installs the runtime package (mlflow-skinny, no server),
# creates a Draft token and a small model in a scratch folder, registers it, shows status and list.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv-demo/bin/python ] || python3 -m venv .venv-demo
.venv-demo/bin/python -m pip install -q --upgrade pip
.venv-demo/bin/python -m pip install -q .
hokusai=$PWD/.venv-demo/bin/hokusai

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export HOKUSAI_HOME="$work/.hokusai"
head -c 2097152 /dev/urandom > model.bin
echo '{"eval": {"auroc": 0.874}}' > metrics.json

set -x
"$hokusai" token create --token-id DEMO-XRAY
"$hokusai" model register --token-id DEMO-XRAY --model-path model.bin \
    --metric auroc --baseline 0.82 --metrics-file metrics.json --metric-key eval.auroc
"$hokusai" model status --token-id DEMO-XRAY
"$hokusai" model list
