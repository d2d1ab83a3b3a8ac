#!/usr/bin/env bash
# Install everything from the repo's own files and run the whole test suite, on the newest
# supported libraries and again (core tests) on the oldest: pandas 1.5 / numpy 1.23 /
# scikit-learn 1.1 / IPython 8.
#   bash tests/run.sh            # from the repository root
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
NEW=${NB2PIPE_VENV_NEW:-$ROOT/.venv-test-new}
OLD=${NB2PIPE_VENV_OLD:-$ROOT/.venv-test-old}
export PIP_DISABLE_PIP_VERSION_CHECK=1 MPLBACKEND=Agg

echo "== newest environment: $NEW"
[ -x "$NEW/bin/python" ] || "$PY" -m venv "$NEW"
"$NEW/bin/pip" install -q --upgrade pip
"$NEW/bin/pip" install -q -e ".[test]"
for script in .ci/setup.d/*.sh; do
  [ -e "$script" ] || continue
  echo "== setup: $script"
  bash "$script" "$NEW"
done

echo "== oldest environment: $OLD"
[ -x "$OLD/bin/python" ] || "$PY" -m venv "$OLD"
"$OLD/bin/pip" install -q --upgrade pip
"$OLD/bin/pip" install -q -c .ci/constraints-oldest.txt -e ".[test]"
"$OLD/bin/python" -c "import pandas, numpy, sklearn, IPython; print('oldest:', 'pandas', pandas.__version__, 'numpy', numpy.__version__, 'sklearn', sklearn.__version__, 'IPython', IPython.__version__)"
"$NEW/bin/python" -c "import pandas, numpy, sklearn, IPython; print('newest:', 'pandas', pandas.__version__, 'numpy', numpy.__version__, 'sklearn', sklearn.__version__, 'IPython', IPython.__version__)"

status=0
echo "== tests on the oldest libraries (core)"
"$OLD/bin/python" -m pytest -q -p no:cacheprovider tests/test_analysis.py tests/test_golden.py \
  tests/test_samples.py $( [ -f tests/test_bad_input.py ] && echo tests/test_bad_input.py ) \
  || status=1
echo "== tests on the newest libraries (everything)"
"$NEW/bin/python" -m pytest -q -p no:cacheprovider tests || status=1
if [ -x .venv-test-kfp/bin/python ]; then
  echo "== Kubeflow Pipelines tests (kfp pins an older kubernetes client: own venv)"
  .venv-test-kfp/bin/python -m pytest -q -p no:cacheprovider -m kfp tests/test_deploy_kfp.py \
    tests/test_deploy_submit_kfp.py || status=1
fi
if [ -x .venv-test-mlflow/bin/python ]; then
  echo "== MLflow tests (mlflow pins older pyarrow/python-dateutil: own venv, a real server)"
  .venv-test-mlflow/bin/python -m pytest -q -p no:cacheprovider -m mlflow tests/test_mlflow.py \
    || status=1
fi
exit $status
