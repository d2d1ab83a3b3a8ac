#!/usr/bin/env bash
# Install the peer tools for benchmarks/bench_peers.py into their own venvs under
# benchmarks/work/ (git-ignored), so nothing lands in the project venv.
#
#   bash benchmarks/install_peers.sh            # both venvs
#   PY=python3.11 bash benchmarks/install_peers.sh
#
#   benchmarks/work/peers-soorgeon : soorgeon==0.0.20 + ploomber (+ papermill, ipykernel and the
#                                    sample notebooks' libraries, same versions as the project
#                                    venv where they resolve, so `ploomber build` can run them)
#   benchmarks/work/peers-kale     : kubeflow-kale + a current kfp (kfp>=2.7, as nb2pipe's extra)
#
# Each step's outcome is written to benchmarks/work/peers-status.txt (read by bench_peers.py);
# a peer that cannot install or import is recorded there with the reason, not fatal.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
WORK="$HERE/work"
PY=${PY:-python3.11}
command -v "$PY" >/dev/null || PY=python3
mkdir -p "$WORK"
STATUS="$WORK/peers-status.txt"
: > "$STATUS"
LIBS="pandas==3.1.1 numpy==2.4.6 scikit-learn==1.9.1 matplotlib==3.11.2 seaborn==0.13.2"

note() { echo "$*" | tee -a "$STATUS"; }

# --- soorgeon + ploomber ---------------------------------------------------------------
S="$WORK/peers-soorgeon"
[ -x "$S/bin/python" ] || "$PY" -m venv "$S"
"$S/bin/pip" install -q --upgrade pip >/dev/null 2>&1
if "$S/bin/pip" install -q "soorgeon==0.0.20" ploomber papermill ipykernel nbconvert $LIBS \
      > "$WORK/install-soorgeon.log" 2>&1 \
   || "$S/bin/pip" install -q "soorgeon==0.0.20" ploomber papermill ipykernel nbconvert \
        pandas numpy scikit-learn matplotlib seaborn >> "$WORK/install-soorgeon.log" 2>&1; then
  if out=$("$S/bin/python" -c "import soorgeon, ploomber, importlib.metadata as m; \
print('soorgeon', m.version('soorgeon'), 'ploomber', m.version('ploomber'), \
'papermill', m.version('papermill'))" 2>&1); then
    note "soorgeon: ok $out"
  else
    note "soorgeon: import-failed $(echo "$out" | tail -1)"
  fi
else
  note "soorgeon: install-failed $(grep -iE 'error' "$WORK/install-soorgeon.log" | tail -1)"
fi
# a kernel spec inside the venv so ploomber/papermill run the venv's own python
"$S/bin/python" -m ipykernel install --prefix "$S" --name python3 >/dev/null 2>&1 || true

# --- kubeflow-kale beside a current kfp ---------------------------------------------------
K="$WORK/peers-kale"
[ -x "$K/bin/python" ] || "$PY" -m venv "$K"
"$K/bin/pip" install -q --upgrade pip >/dev/null 2>&1
if "$K/bin/pip" install -q kubeflow-kale "kfp>=2.7" > "$WORK/install-kale.log" 2>&1; then
  if out=$("$K/bin/python" -c "import kale, kfp, importlib.metadata as m; \
print('kubeflow-kale', m.version('kubeflow-kale'), 'kfp', m.version('kfp'))" 2>&1); then
    note "kale: ok $out"
  else
    note "kale: import-failed $(echo "$out" | tail -1)"
  fi
else
  note "kale: install-failed $(grep -iE 'error|conflict|requires' "$WORK/install-kale.log" | tail -2 | tr '\n' ' ')"
fi
echo "status in $STATUS"
