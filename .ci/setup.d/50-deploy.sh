#!/usr/bin/env bash
# Deploy tests (issue 5). Idempotent.
#  $1: the main test venv (default .venv-test-new): gets Hera, jsonschema, check-jsonschema;
#  the KServe SDK's models go to <repo>/.kserve-sdk.
#  The kfp SDK pins an older kubernetes client, so it gets its own venv beside it:
#  ${NB2PIPE_VENV_KFP:-<repo>/.venv-test-kfp}, with nb2pipe (editable) and what the sample
#  notebooks need. Run its tests with:
#    .venv-test-kfp/bin/python -m pytest -q -p no:cacheprovider -m kfp tests/test_deploy_kfp.py tests/test_deploy_submit_kfp.py
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
MAIN=${1:-${NB2PIPE_VENV_NEW:-$ROOT/.venv-test-new}}
KFP=${NB2PIPE_VENV_KFP:-$ROOT/.venv-test-kfp}
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [ -x "$MAIN/bin/pip" ]; then
  "$MAIN/bin/pip" install -q "hera>=5.16" "jsonschema>=4.18" "check-jsonschema>=0.28" "pyyaml>=5.4"
  # KServe's SDK for its generated InferenceService models (tests/deploy_schemas.py): without
  # its dependencies (a whole model server), in its own folder; its __init__ never runs.
  KSERVE_VERSION=0.21.0
  if [ ! -f "$ROOT/.kserve-sdk/kserve-$KSERVE_VERSION.dist-info/METADATA" ]; then
    rm -rf "$ROOT/.kserve-sdk"
    "$MAIN/bin/pip" install -q --no-deps --target "$ROOT/.kserve-sdk" "kserve==$KSERVE_VERSION"
  fi
fi

[ -x "$KFP/bin/python" ] || "$PY" -m venv "$KFP"
"$KFP/bin/pip" install -q --upgrade pip
"$KFP/bin/pip" install -q -e ".[test]" "kfp>=2.7" kfp-kubernetes
"$KFP/bin/python" -c "import kfp, kubernetes; print('kfp venv:', 'kfp', kfp.__version__, 'kubernetes', kubernetes.__version__)"
