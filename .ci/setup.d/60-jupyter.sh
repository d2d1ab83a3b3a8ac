#!/usr/bin/env bash
# JupyterLab front end (issue 6). Idempotent.
#  $1: the test venv (default .venv-test-new). Installs into it: JupyterLab 4 and the build
#  tools, the server extension's config (nb2pipe.jupyter, for editable installs, which skip
#  data files), and the nb2pipe-jupyterlab distribution built from jupyter_extension/ with
#  the committed package-lock.json. Installs Debian's chromium for the browser test.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
VENV=${1:-${NB2PIPE_VENV_NEW:-$ROOT/.venv-test-new}}
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [ ! -x /usr/bin/chromium ]; then
  echo "== chromium (Debian)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q chromium
fi
/usr/bin/chromium --version 2>/dev/null || true

echo "== JupyterLab and build tools into $VENV"
"$VENV/bin/pip" install -q "jupyterlab>=4.0,<5" "jupyter-builder>=1.3" "hatchling>=1.5" \
  "hatch-jupyter-builder>=0.8.3" "pytest-jupyter[server]>=0.10" "pre-commit>=3.5"

# the server extension's config file (a non-editable install of nb2pipe puts it there itself)
mkdir -p "$VENV/etc/jupyter/jupyter_server_config.d"
cp jupyter-config/jupyter_server_config.d/nb2pipe.json "$VENV/etc/jupyter/jupyter_server_config.d/"

echo "== build the lab extension (npm ci + @jupyter/builder)"
command -v npm >/dev/null || { echo "60-jupyter.sh: npm is missing (Node >= 20 needed)" >&2; exit 1; }
cd "$ROOT/jupyter_extension"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
PATH="$VENV/bin:$PATH" npm run build:prod
cd "$ROOT"
# build isolation off: the build tools are in the venv, and the prebuilt extension is there
"$VENV/bin/pip" install -q --no-deps --no-build-isolation --force-reinstall ./jupyter_extension

"$VENV/bin/jupyter" labextension list 2>&1 | grep -E "nb2pipe-jupyterlab .*enabled"
"$VENV/bin/jupyter" server extension list 2>&1 | grep -E "nb2pipe.jupyter .*enabled"
