"""The formatting child: a forked process that imports black and formats the notebook's code
blocks while the main process reads, plans and writes (see nb2pipe.emit.codefmt.FormatCache).

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


class FormatterChild:
    """A forked process that imports black at once, then formats the blocks it is sent (JSON
    {key: [text, depth]}, until end of file) and answers with JSON {key: formatted}.

    Its life: `spawn()` (importing black while the parent reads and plans the notebook),
    `send(blocks)` once, `results()` once; or `kill()` at any point."""

    def __init__(self, pid: int, request_fd: int | None, result_fd: int) -> None:
        self.pid = pid
        self.request_fd = request_fd  # None once the blocks are sent
        self.result_fd = result_fd

    @classmethod
    def spawn(cls) -> FormatterChild | None:
        """A new child, or None if it cannot start."""
        try:
            req_r, req_w = os.pipe()
            res_r, res_w = os.pipe()
            pid = os.fork()
        except OSError:
            return None
        if pid == 0:  # the child: leaves with os._exit, never running the parent's cleanup
            _serve(req_r, req_w, res_r, res_w)
        os.close(req_r)
        os.close(res_w)
        return cls(pid, req_w, res_r)

    @classmethod
    def start(cls, blocks: dict[str, tuple[str, int]]) -> FormatterChild | None:
        """A new child already formatting `blocks`; None if it cannot start."""
        child = cls.spawn()
        return child if child is not None and child.send(blocks) else None

    def send(self, blocks: dict[str, tuple[str, int]]) -> bool:
        """Hand over the blocks; False (and the child gone) if it cannot take them."""
        fd, self.request_fd = self.request_fd, None
        try:
            _write_all(fd, json.dumps(blocks).encode("utf-8"))
        except OSError:
            os.close(fd)
            self.kill()
            return False
        os.close(fd)
        return True

    def results(self) -> dict[str, str]:
        """The formatted blocks, waiting for the child to finish ({} if it failed)."""
        try:
            data = _read_all(self.result_fd)
        finally:
            os.close(self.result_fd)
            _, status = os.waitpid(self.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            return {}
        try:
            out = json.loads(data)
        except ValueError:
            return {}
        if not isinstance(out, dict):
            return {}
        return {k: v for k, v in out.items() if isinstance(v, str)}

    def kill(self) -> None:
        try:
            os.kill(self.pid, 9)
        except OSError:
            pass
        for fd in (self.request_fd, self.result_fd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.request_fd = None
        try:
            os.waitpid(self.pid, 0)
        except OSError:
            pass


def _serve(req_r: int, req_w: int, res_r: int, res_w: int) -> None:
    """The child's whole life (never returns)."""
    # the parent is single-threaded, so no import lock is held: importing black here is safe,
    # and a small notebook's parent never imports it
    code = 1
    try:
        os.close(req_w)
        os.close(res_r)
        try:
            import black  # noqa: F401 - imported early, while the parent plans
        except ImportError:
            pass
        blocks = json.loads(_read_all(req_r) or b"{}")
        out = {k: format_fragment(text, depth) for k, (text, depth) in blocks.items()}
        _write_all(res_w, json.dumps(out).encode("utf-8"))
        code = 0
    finally:
        os._exit(code)


# A child forked by the command line first thing (before nb2pipe's own imports, so black's
# import overlaps them), waiting here until the next conversion adopts it. Module state,
# because the command line and the conversion share nothing else this early.
_early: FormatterChild | None = None


def spawn_early() -> None:
    global _early
    if _early is None and can_fork():
        _early = FormatterChild.spawn()


def adopt_early() -> FormatterChild | None:
    """The early child, if any (now the caller's to send blocks to or to kill)."""
    global _early
    child, _early = _early, None
    return child


def discard_early() -> None:
    child = adopt_early()
    if child is not None:
        child.kill()


_DEF_HEAD = "def _nb2pipe_wrapper_():\n    pass\n"
_DEF_TAIL = "    return\n"


def _black(text: str) -> str:
    import black

    return black.format_str(text, mode=black.Mode())


def can_fork() -> bool:
    """Forking is safe and useful: Linux, single-threaded (not in a Jupyter server), two or
    more CPUs, and not turned off."""
    import threading

    return (sys.platform.startswith("linux") and hasattr(os, "fork")
            and threading.active_count() == 1 and (os.cpu_count() or 1) > 1
            and not os.environ.get("NB2PIPE_NO_PARALLEL"))


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


def format_fragment(text: str, depth: int) -> str:
    """`text` formatted by black at `depth` (0: a module's top level; 1: a function body),
    indented, without the trailing newline; as it was where black rejects it."""
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
