"""Issue 11 against `jupyter server` as users run it: a separate process on 127.0.0.1, token
auth, the nb2pipe extension enabled, its root holding a notebook whose lock was crafted.

The server process runs with an audit hook (sys.addaudithook) that logs every file or folder
it opens or lists under the watched places: a folder outside the root holding a sentinel, a
FIFO in the pipeline folder, /dev/zero. The log must stay empty, the sentinel unchanged, no
answer may be a 500, and `/api/status` must keep answering while crafted checks are in flight.
Client timeouts are the failure signal of a server whose event loop is blocked: they say
"answers at all", not "answers fast".

The fuzz test runs NB2PIPE_FUZZ_EXAMPLES examples (30 by default; more by hand).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sample_nb import write_sample
from servers import free_port, stop, wait_until

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("NB2PIPE_FUZZ_EXAMPLES", "30"))
SPLITS = ["auto", "tags", "headings", "single"]

# The server, started through this launcher, logs what it opens or lists under WATCH.
LAUNCHER = r'''
import os, sys
WATCH = [os.path.realpath(p) for p in os.environ["NB2PIPE_AUDIT_WATCH"].split(os.pathsep)]
LOG = os.environ["NB2PIPE_AUDIT_LOG"]

def watched(path):
    p = os.path.realpath(os.fsdecode(path))
    return any(p == w or p.startswith(w + os.sep) for w in WATCH)

def hook(event, args):
    if event in ("open", "os.listdir", "os.scandir") and args and isinstance(
            args[0], (str, bytes)) and watched(args[0]):
        with open(LOG, "a") as fh:
            fh.write(f"{event} {os.fsdecode(args[0])}\n")

sys.addaudithook(hook)
from jupyter_server.serverapp import main
sys.exit(main())
'''


class Server:
    def __init__(self, url: str, token: str, root: Path, outside: Path, audit: Path):
        self.url, self.token, self.root, self.outside, self.audit = (url, token, root,
                                                                     outside, audit)

    def request(self, method: str, endpoint: str, *, params: dict | None = None,
                body: bytes | None = None, timeout: float = 120) -> tuple[int, bytes]:
        query = "?" + urllib.parse.urlencode(params) if params else ""
        req = urllib.request.Request(f"{self.url}/{endpoint}{query}", data=body, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def status_answers(self) -> bool:
        """Does /api/status answer at all (a few seconds of patience: a blocked event loop
        never answers)?"""
        try:
            return self.request("GET", "api/status", timeout=5)[0] == 200
        except OSError:
            return False


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("untrusted-server")
    root, outside = base / "root", base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("the secret\n")
    write_sample(root / "probe.ipynb")
    env = dict(os.environ, PYTHONPATH=str(ROOT), HOME=str(base / "home"),
               JUPYTER_RUNTIME_DIR=str(base / "runtime"),
               JUPYTER_CONFIG_DIR=str(base / "home" / ".jupyter"), JUPYTER_PLATFORM_DIRS="1",
               NB2PIPE_AUDIT_LOG=str(base / "audit.log"),
               NB2PIPE_AUDIT_WATCH=os.pathsep.join([str(outside), "/dev/zero",
                                                    str(root / "probe_pipeline" / "pipe")]))
    subprocess.run([sys.executable, "-m", "nb2pipe", "convert", "probe.ipynb"], cwd=root,
                   env=env, check=True, capture_output=True)
    launcher = base / "launch.py"
    launcher.write_text(LAUNCHER)
    port, token = free_port(), secrets.token_hex(16)
    log = (base / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, str(launcher), "--no-browser", "--allow-root",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--ServerApp.jpserver_extensions={'nb2pipe.jupyter': True}"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    srv = Server(f"http://127.0.0.1:{port}", token, root, outside, base / "audit.log")
    try:
        wait_until(srv.status_answers, proc, "jupyter server", base / "server.log")
        yield srv
    finally:
        stop(proc)
        log.close()


OUT = Path("probe_pipeline")
CRAFTED = ["pipe", "/dev/zero", "/etc/hostname", "../outside/secret.txt",
           "../../outside/secret.txt", "/nonexistent/nope"]


def _write_lock(srv: Server, extra_files: dict | None = None, whole: object = None) -> None:
    """The pipeline's lock with crafted entries (or replaced by `whole`); a FIFO beside it."""
    out = srv.root / OUT
    out.mkdir(exist_ok=True)
    if not (out / "pipe").exists():
        os.mkfifo(out / "pipe")
    lock_path = out / "nb2pipe.lock.json"
    if whole is not None:
        lock_path.write_text(json.dumps(whole))
        return
    try:
        lock = json.loads(lock_path.read_text())
    except ValueError:
        lock = {}
    if not isinstance(lock, dict) or not isinstance(lock.get("files"), dict):
        lock = {"files": {}}
    lock["files"].update(extra_files or {})
    lock_path.write_text(json.dumps(lock))


def _sentinel_digest(srv: Server) -> str:
    return hashlib.sha256((srv.outside / "secret.txt").read_bytes()).hexdigest()


def _nothing_outside_touched(srv: Server) -> None:
    assert sorted(p.name for p in srv.outside.iterdir()) == ["secret.txt"]
    assert (srv.outside / "secret.txt").read_text() == "the secret\n"
    audit = srv.audit.read_text() if srv.audit.exists() else ""
    assert audit == "", f"the server opened or listed watched paths:\n{audit}"


def test_status_answers_while_crafted_checks_are_in_flight(server):
    digest = _sentinel_digest(server)
    _write_lock(server, {entry: digest for entry in CRAFTED})
    results: list[tuple[int, bytes]] = []

    def crafted(endpoint: str) -> None:
        results.append(server.request("GET", f"nb2pipe/{endpoint}",
                                      params={"path": "probe.ipynb"}))

    threads = [threading.Thread(target=crafted, args=(e,)) for e in ["check", "preview"] * 3]
    for t in threads:
        t.start()
    assert server.status_answers()  # while those are in flight (or done): never blocked
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a crafted check never answered"
    assert server.status_answers()
    assert len(results) == 6
    for code, body in results:
        assert code == 200, body
        data = json.loads(body)
        check = data.get("check", data)
        assert check["not_nb2pipe"] and check["edited"] == [], check
        assert b"the secret" not in body
    _nothing_outside_touched(server)


_scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
            | st.text(max_size=12))
_json = st.recursive(_scalars, lambda c: st.lists(c, max_size=3)
                     | st.dictionaries(st.text(max_size=6), c, max_size=3), max_leaves=8)
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
_paths = st.sampled_from([
    "probe.ipynb", "../outside/secret.txt", "/etc/passwd", "%2e%2e/x", "%2E%2E/outside",
    ".hidden_out", "probe_pipeline", "probe_pipeline/pipe", "data", "a/../../outside",
    "~/x", "C:/x", "\\\\host\\x", "probe.ipynb\x00", "", " ", "fuzz_out", "fuzz/out",
    "../outside", "/dev/zero"]) | _text
_body = st.one_of(
    st.fixed_dictionaries({}, optional={
        "path": _paths | _json, "outdir": _paths | _json | st.none(),
        "force": st.booleans() | _json, "split": st.sampled_from(SPLITS) | _json}),
    _json)
_lock_files = st.dictionaries(st.sampled_from(CRAFTED) | _text,
                              st.sampled_from(["0" * 64]) | _text, max_size=4)
_lock = st.one_of(st.builds(lambda f: ("files", f), _lock_files),
                  st.builds(lambda w: ("whole", w), _json))
_request = st.one_of(
    st.builds(lambda p, o, s: ("GET", "check", {"path": p, **({"outdir": o} if o else {})}, s),
              _paths, st.none() | _paths, st.none()),
    st.builds(lambda p, o, s: ("GET", "preview",
                               {"path": p, "split": s, **({"outdir": o} if o else {})}, None),
              _paths, st.none() | _paths, st.sampled_from(SPLITS) | _text),
    st.builds(lambda b: ("POST", "convert", None, b), _body))


@settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 100, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(lock=_lock, req=_request)
def test_fuzz_endpoints(server, lock, req):
    kind, value = lock
    _write_lock(server, **({"extra_files": value} if kind == "files" else {"whole": value}))
    method, endpoint, params, body = req
    raw = None if method == "GET" else json.dumps(body).encode()
    code, reply = server.request(method, f"nb2pipe/{endpoint}", params=params, body=raw)
    assert code < 500, (code, reply[:500])
    assert b"the secret" not in reply
    if code >= 400:
        assert json.loads(reply).get("message"), reply
    assert server.status_answers()
    _nothing_outside_touched(server)
