"""The process that runs steps: a warm zygote that forks one child per step.

Run as a script (`python worker.py zygote PROJECT PACKAGE` or `python worker.py once PROJECT
PACKAGE REQUEST`), never imported by the runner's own process: it imports the generated
package (hence pandas, scikit-learn, ...) once, then `os.fork()`s a child per step, so each step
starts from the same clean, warm interpreter state and no state leaks between steps (as in a
pod). The child runs the container's own entrypoint logic, `<pkg>._runtime.run_step`, with its
stdout/stderr going to log files, writes a result file and exits.

Protocol (JSON lines): the runner writes requests on our stdin; we answer on the message fd
(our original stdout): {"event": "ready"}, {"event": "started", "key", "pid"},
{"event": "exited", "key", "pid", "returncode"}. End of stdin means the runner is gone: the
zygote kills its children and exits (on Linux it also dies with the runner, PR_SET_PDEATHSIG).
A child also writes {"event": "handed-on", "key"} once its values are written and their
content addresses known (in the request's "ready" file), hard-linked under the request's
"handoff" folder: the runner may start the next steps from there while the child writes its
result and exits (the store compresses tables later: `nb2pipe runs compact`). Its "exited"
event still comes last.

Only the standard library is imported here, besides the generated package.
"""

from __future__ import annotations

import importlib
import json
import os
import selectors
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

PRELOAD = ("pyarrow", "joblib", "cloudpickle")  # tables are Arrow IPC (pyarrow itself)


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the parent dies, so no step outlives a killed run."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort; stdin EOF is the portable signal
        pass


def _scalar(value: Any) -> float | None:
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if type(value).__module__ == "numpy" and getattr(value, "shape", None) == () \
                and getattr(value, "dtype", None) is not None and value.dtype.kind in "iuf":
            return float(value)
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if f == f and f not in (float("inf"), float("-inf")) else None


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, default=str))
    os.replace(tmp, path)


def _secret_locals_hook(package: str, step: str, names: list[str],
                        seen: dict[str, Any]) -> Any:
    """A profile hook that keeps the step function's locals named in `names` (values built
    from a secret, never returned) when it returns or raises, for `_mask_logs`."""
    if not names:
        return None
    try:
        code = getattr(importlib.import_module(f"{package}.steps.{step}"), step).__code__
    except Exception:  # noqa: BLE001 - the step itself reports an import error
        return None
    wanted = set(names)

    def hook(frame: Any, event: str, arg: Any) -> None:
        if event == "return" and frame.f_code is code:
            local = frame.f_locals
            seen.update({n: local[n] for n in wanted if n in local})

    return hook


def _strings_in(value: Any, depth: int = 4) -> set[str]:
    """The strings a value holds (itself, or inside dict values, lists, tuples and sets;
    dict keys are labels such as "Authorization", not secrets)."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, (bytes, bytearray)):
        return {bytes(value).decode("utf-8", "replace")}
    out: set[str] = set()
    if depth and isinstance(value, dict):
        for v in list(value.values())[:1000]:
            out |= _strings_in(v, depth - 1)
    elif depth and isinstance(value, (list, tuple, set, frozenset)):
        for v in list(value)[:1000]:
            out |= _strings_in(v, depth - 1)
    return out


def _mask_logs(req: dict, seen: dict[str, Any], result: dict[str, Any]) -> None:
    """Values built from a secret that the step printed become *** in its log files (and its
    error), before the runner reads them. The runner masks the secrets themselves too."""
    texts = sorted({t for v in seen.values() for t in _strings_in(v) if len(t.strip()) >= 4},
                   key=len, reverse=True)
    if not texts:
        return
    for key in ("stdout", "stderr"):
        try:
            with open(req[key], "r+b") as fh:
                data = fh.read()
                new = data
                for t in texts:
                    new = new.replace(t.encode("utf-8", "replace"), b"***")
                if new != data:
                    fh.seek(0)
                    fh.write(new)
                    fh.truncate()
        except OSError:
            pass
    for key in ("error", "traceback"):
        if isinstance(result.get(key), str):
            for t in texts:
                result[key] = result[key].replace(t, "***")


def hand_off(outputs: Path, handoff: Path, metas: dict[str, dict]) -> None:
    """Each written value's files, hard-linked (copied where links fail) under
    handoff/<sha256>/: the next steps read them there while this step finishes and the
    runner moves its own copies into the store."""
    for name, meta in metas.items():
        if meta.get("persisted", True) is False:
            continue
        dest = handoff / meta["sha256"]
        if dest.exists():
            continue
        part = handoff / f".{meta['sha256']}.{os.getpid()}"
        part.mkdir(parents=True)
        for file in (meta["file"], "meta.json"):
            try:
                os.link(outputs / name / file, part / file)
            except OSError:
                shutil.copyfile(outputs / name / file, part / file)
        try:
            os.rename(part, dest)
        except OSError:  # a twin value (same content) got there first
            shutil.rmtree(part, ignore_errors=True)


def _announcer(runtime: Any, req: dict, msg_fd: int | None) -> Any:
    """The on_ready callback of a step run by the zygote: hand the values on, say so. None
    without a message fd, or for a package generated before run_step took one."""
    if msg_fd is None or not req.get("handoff") or not req.get("ready") or \
            "on_ready" not in runtime.run_step.__code__.co_varnames:
        return None

    def on_ready(metas: dict[str, dict]) -> None:
        hand_off(Path(req["outputs"]), Path(req["handoff"]), metas)
        _write_json(Path(req["ready"]), {"metas": metas})
        os.write(msg_fd, (json.dumps({"event": "handed-on", "key": req["key"]})
                          + "\n").encode())

    return on_ready


def run_request(package: str, req: dict, msg_fd: int | None = None) -> int:
    """Run one step (in the current process) and write its result file; returns the exit code.
    With a message fd, the values are handed on before the step's process exits."""
    result: dict[str, Any] = {"ok": False}
    started = time.time()
    seen: dict[str, Any] = {}
    try:
        runtime = importlib.import_module(f"{package}._runtime")
        hook = _secret_locals_hook(package, req["step"], req.get("mask") or [], seen)
        if hook is not None:
            sys.setprofile(hook)
        try:
            on_ready = _announcer(runtime, req, msg_fd)
            metas = runtime.run_step(req["step"], Path(req["inputs"]), Path(req["outputs"]),
                                     req.get("params") or {},
                                     **({"on_ready": on_ready} if on_ready else {}))
        finally:
            sys.setprofile(None)
        scalars = {}
        for name, meta in metas.items():
            if meta.get("size", 1 << 30) <= 4096 and meta.get("format") in ("json", "pickle"):
                try:
                    value = runtime.load_value(Path(req["outputs"]) / name)
                except Exception:  # noqa: BLE001 - a metric is a bonus, never a failure
                    continue
                s = _scalar(value)
                if s is not None:
                    scalars[name] = s
        result = {"ok": True, "metas": metas, "scalars": scalars}
    except BaseException as exc:  # noqa: BLE001 - everything is reported to the runner
        traceback.print_exc()
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc()}
    result["seconds"] = time.time() - started
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # noqa: BLE001
        pass
    _mask_logs(req, seen, result)
    _write_json(Path(req["result"]), result)
    return 0 if result["ok"] else 1


def _redirect(req: dict) -> None:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    for fd, key in ((1, "stdout"), (2, "stderr")):
        out = os.open(req[key], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(out, fd)
        os.close(out)


def _child(package: str, req: dict, msg_fd: int, zygote_pid: int) -> None:
    code = 1
    try:
        _die_with_parent()  # not inherited through fork: a step dies with its zygote
        if os.getppid() != zygote_pid:
            os._exit(1)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        _redirect(req)
        np = sys.modules.get("numpy")
        if np is not None:  # a fresh process would draw fresh entropy, so does a fork
            np.random.seed()
        code = run_request(package, req, msg_fd)
    finally:
        os._exit(code)


def _setup_environ(project: str, package: str) -> dict[str, str]:
    """Environment variables the notebook's setup state sets to literals (`os.environ[k] = v`,
    `.setdefault`, `.update`), found in the shared module's setup functions. Native libraries
    read some of them only when they load (OMP_NUM_THREADS and its kin): the notebook set them
    before importing scikit-learn, so the zygote must too, before it imports the package."""
    import ast

    try:
        tree = ast.parse(Path(project, package, "common.py").read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return {}

    def is_environ(node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ" and \
            isinstance(node.value, ast.Name) and node.value.id == "os"

    def lit(node: ast.AST) -> str | None:
        return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) \
            else None

    found: dict[str, str] = {}
    for fn in tree.body:
        if not (isinstance(fn, ast.FunctionDef) and fn.name.startswith("setup_")):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                t = node.targets[0]
                if isinstance(t, ast.Subscript) and is_environ(t.value):
                    k, v = lit(t.slice), lit(node.value)
                    if k is not None and v is not None:
                        found[k] = v
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    is_environ(node.func.value):
                if node.func.attr == "setdefault" and len(node.args) == 2:
                    k, v = lit(node.args[0]), lit(node.args[1])
                    if k is not None and v is not None:
                        found.setdefault(k, v)
                elif node.func.attr == "update":
                    for kw in node.keywords:
                        if kw.arg and lit(kw.value) is not None:
                            found[kw.arg] = lit(kw.value)  # type: ignore[assignment]
                    for arg in node.args:
                        if isinstance(arg, ast.Dict):
                            for k_node, v_node in zip(arg.keys, arg.values):
                                k = lit(k_node) if k_node is not None else None
                                v = lit(v_node)
                                if k is not None and v is not None:
                                    found[k] = v
    return found


def _preload(project: str, package: str) -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.update(_setup_environ(project, package))
    sys.path.insert(0, project)
    for mod in (f"{package}._runtime", f"{package}.pipeline", *PRELOAD):
        try:
            importlib.import_module(mod)
        except Exception:  # noqa: BLE001 - the step's own import reports it properly
            pass


def zygote(project: str, package: str) -> int:
    _die_with_parent()
    msg_fd = os.dup(1)  # the channel; fd 1 then goes to stderr so stray prints can't corrupt it
    os.dup2(2, 1)
    os.set_inheritable(msg_fd, False)

    def send(event: dict) -> None:
        os.write(msg_fd, (json.dumps(event) + "\n").encode())

    t0 = time.time()
    _preload(project, package)
    send({"event": "ready", "seconds": round(time.time() - t0, 3)})
    sel = selectors.DefaultSelector()
    sel.register(0, selectors.EVENT_READ, None)
    use_pidfd = hasattr(os, "pidfd_open")
    children: dict[int, str] = {}
    buf = b""
    while True:
        events = sel.select(timeout=None if use_pidfd else 0.02)
        for key, _ in events:
            if key.data is None:
                chunk = os.read(0, 65536)
                if not chunk:  # the runner is gone or done: no child outlives it
                    for pid in children:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except OSError:
                            pass
                    os._exit(0)  # skip interpreter teardown (pandas & co. take a while)
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not line.strip():
                        continue
                    req = json.loads(line)
                    sys.stdout.flush()
                    sys.stderr.flush()
                    me = os.getpid()
                    pid = os.fork()
                    if pid == 0:
                        sel.close()
                        _child(package, req, msg_fd, me)
                    children[pid] = req["key"]
                    if use_pidfd:
                        try:
                            sel.register(os.pidfd_open(pid), selectors.EVENT_READ, pid)
                        except OSError:
                            use_pidfd = False
                    send({"event": "started", "key": req["key"], "pid": pid})
            else:
                sel.unregister(key.fd)
                os.close(key.fd)
        for pid in list(children):
            try:
                done, status, usage = os.wait4(pid, os.WNOHANG)
            except ChildProcessError:
                done, status, usage = pid, 0, None
            if done:
                rc = os.waitstatus_to_exitcode(status)
                event = {"event": "exited", "key": children.pop(pid), "pid": pid,
                         "returncode": rc}
                if usage is not None:  # what the step used: requests and limits on a cluster
                    event["peak_rss_kb"] = usage.ru_maxrss  # KiB on Linux
                    event["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 3)
                send(event)


def once(project: str, package: str, request: str) -> int:
    """Fallback without fork: this fresh process runs one step (stdout/stderr set by caller)."""
    _die_with_parent()
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.path.insert(0, project)
    return run_request(package, json.loads(request))


if __name__ == "__main__":
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        sys.path.pop(0)  # this folder must not shadow the steps' imports
    mode = sys.argv[1]
    if mode == "zygote":
        sys.exit(zygote(sys.argv[2], sys.argv[3]))
    sys.exit(once(sys.argv[2], sys.argv[3], sys.argv[4]))
