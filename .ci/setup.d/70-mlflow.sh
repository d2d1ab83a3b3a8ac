#!/usr/bin/env bash
# MLflow tracking tests (issue 19). Idempotent.
#  mlflow pins older pyarrow and python-dateutil than the main test venv has, so it gets its
#  own venv: ${NB2PIPE_VENV_MLFLOW:-<repo>/.venv-test-mlflow}, with nb2pipe (editable, the
#  [mlflow] extra) and what the sample notebooks need. Its tests (marker mlflow) start a real
#  MLflow tracking server on 127.0.0.1:
#    .venv-test-mlflow/bin/python -m pytest -q -p no:cacheprovider -m mlflow tests/test_mlflow.py
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
VENV=${NB2PIPE_VENV_MLFLOW:-$ROOT/.venv-test-mlflow}
export PIP_DISABLE_PIP_VERSION_CHECK=1

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q -e ".[mlflow]" "pytest>=7.4" "pandas>=1.5" "numpy>=1.23" \
  "scikit-learn>=1.1" "matplotlib>=3.6" "seaborn>=0.12" "joblib>=1.2" "pyarrow>=10.0"
"$VENV/bin/python" -c "import mlflow; print('mlflow venv:', 'mlflow', mlflow.__version__)"
