"""The formatting child: a forked process that imports black and formats the notebook's code
blocks while the main process reads, plans and writes (see nb2pipe.emit.pyfmt.FormatCache).

It imports only the standard library's os and json, so the command line can fork it first
thing (`spawn_early`), before nb2pipe's own imports: black's import (~45 ms) then overlaps
everything else. A child left waiting ends by itself when its parent exits (its request pipe
reaches end of file).
"""

from __future__ import annotations

import json
import os
import sys

INDENT = "    "
EARLY = None  # a child forked by the command line, adopted by the next conversion


def spawn_early() -> None:
    global EARLY
    if EARLY is None and _can_fork():
        EARLY = _spawn_formatter()


def adopt_early():
    """The early child, if any (now the caller's to send blocks to or to kill)."""
    global EARLY
    spawned, EARLY = EARLY, None
    return spawned


def discard_early() -> None:
    spawned = adopt_early()
    if spawned is not None:
        _kill(spawned[0], spawned[1], spawned[2])


_DEF_HEAD = "def _nb2pipe_wrapper_():\n    pass\n"
_DEF_TAIL = "    return\n"


def _black(text: str) -> str:
    import black

    return black.format_str(text, mode=black.Mode())


def _can_fork() -> bool:
    import threading

    return (sys.platform.startswith("linux") and hasattr(os, "fork")
            and threading.active_count() == 1 and (os.cpu_count() or 1) > 1
            and not os.environ.get("NB2PIPE_NO_PARALLEL"))


def _spawn_formatter():
    """(pid, request write end, result read end) of a child that imports black at once, then
    formats the blocks it is sent (JSON {key: [text, depth]}, until EOF) and answers with
    JSON {key: formatted}; None if it cannot start. Importing black first lets the parent
    read and plan the notebook meanwhile."""
    try:
        req_r, req_w = os.pipe()
        res_r, res_w = os.pipe()
        pid = os.fork()
    except OSError:
        return None
    if pid == 0:  # the child: leaves with os._exit, never running the parent's cleanup
        # (the parent is single-threaded, so no import lock is held: importing black here
        # is safe, and a small notebook's parent never imports it)
        code = 1
        try:
            os.close(req_w)
            os.close(res_r)
            try:
                import black  # noqa: F401
            except ImportError:
                pass
            blocks = json.loads(_read_all(req_r) or b"{}")
            out = {k: _format_fragment(text, depth) for k, (text, depth) in blocks.items()}
            _write_all(res_w, json.dumps(out).encode("utf-8"))
            code = 0
        finally:
            os._exit(code)
    os.close(req_r)
    os.close(res_w)
    return pid, req_w, res_r


def _send(spawned, blocks: dict[str, tuple[str, int]]):
    """Hand `blocks` to a spawned child: (pid, result read end) to join, or None."""
    pid, req_w, res_r = spawned
    try:
        _write_all(req_w, json.dumps(blocks).encode("utf-8"))
    except OSError:
        os.close(req_w)
        _kill(pid, res_r)
        return None
    os.close(req_w)
    return pid, res_r


def _fork_formatter(blocks: dict[str, tuple[str, int]]):
    """(pid, read end) of a child formatting `blocks`; None if it cannot start."""
    spawned = _spawn_formatter()
    return _send(spawned, blocks) if spawned is not None else None


def _kill(pid: int, *fds: int) -> None:
    try:
        os.kill(pid, 9)
    except OSError:
        pass
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
    try:
        os.waitpid(pid, 0)
    except OSError:
        pass


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _join_formatter(child) -> dict[str, str]:
    if child is None:
        return {}
    pid, read = child
    try:
        data = _read_all(read)
    finally:
        os.close(read)
        _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return {}
    try:
        out = json.loads(data)
    except ValueError:
        return {}
    return {k: v for k, v in out.items() if isinstance(v, str)} if isinstance(out, dict) else {}


def _format_fragment(text: str, depth: int) -> str:
    if depth == 0:
        try:
            return _black(text).rstrip("\n")
        except Exception:  # noqa: BLE001 - black rejects some valid code: keep it as is
            return text.rstrip("\n")
    body = "".join(INDENT + ln if ln.strip() else "\n" for ln in text.splitlines(True))
    if not body.endswith("\n"):
        body += "\n"
    try:
        out = _black(_DEF_HEAD + body + _DEF_TAIL)
    except Exception:  # noqa: BLE001
        return body.rstrip("\n")
    lines = out.split("\n")
    # drop the wrapper: `def` and `pass` before, `return` (and the blank lines black put
    # before it, which the generated `return` gets too) after
    assert lines[0].startswith("def _nb2pipe_wrapper_") and lines[1] == INDENT + "pass"
    end = len(lines) - 1
    while end > 0 and lines[end] != INDENT + "return":
        end -= 1
    inner = lines[2:end]
    blank_before_return = 0
    while inner and inner[-1] == "":
        inner.pop()
        blank_before_return += 1
    return "\n".join(inner) + "\n" * blank_before_return
