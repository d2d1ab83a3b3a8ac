"""REST handlers: preview the plan of a notebook, convert it, check its pipeline.

Thin front end over the public API (`nb2pipe.api`, `nb2pipe.hooks.check`), like the CLI. Every
handler is authenticated and authorized (resource `nb2pipe`); jupyter-server enforces XSRF for
cookie sessions on the POST. Paths are API paths, resolved against the contents manager's root
and confined to it: absolute paths, `..` and symlinks leading out are refused.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

AUTH_RESOURCE = "nb2pipe"
DEFAULT_TIMEOUT = 300.0  # seconds; `ServerApp.tornado_settings = {"nb2pipe_timeout": ...}`
# Blocking work (analysis, hashing, writing) runs here, never on the server's event loop: one
# slow request must not stall every user's server. Bounded, so a flood cannot spawn threads
# without end; when all are busy, further requests wait, then time out with a 504.
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="nb2pipe")
_write_locks: dict[str, threading.Lock] = {}  # one conversion at a time per output folder
_write_locks_guard = threading.Lock()
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


def _write_lock(out: Path) -> threading.Lock:
    with _write_locks_guard:
        return _write_locks.setdefault(str(out), threading.Lock())


def text_field(value: Any, name: str, *, required: bool) -> str | None:
    """A request field that must be a string (or absent when not required); 400 otherwise."""
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise web.HTTPError(400, f"{name!r} must be a string" + ("" if required else " or null"))
    return value


def too_long(api_path: str) -> bool:
    """Longer than any path the file system takes (a name over NAME_MAX bytes, the whole over
    PATH_MAX): stat would raise instead of saying "no such file"."""
    names = api_path.encode("utf-8", "surrogatepass").split(b"/")
    return any(len(n) > 255 for n in names) or sum(len(n) + 1 for n in names) > 4000


def hidden_part(rel: PurePosixPath) -> str | None:
    """The first hidden name (leading dot) of a path, as the file browser hides them."""
    return next((p for p in rel.parts if p.startswith(".")), None)


class _Handler(APIHandler):
    auth_resource = AUTH_RESOURCE

    # ---- paths -----------------------------------------------------------------------------
    def _root(self) -> Path:
        root = getattr(self.contents_manager, "root_dir", None)
        if not root:
            raise web.HTTPError(501, "nb2pipe needs a file-system contents manager")
        return Path(os.path.realpath(root))

    def _resolve(self, api_path: str | None, *, must_exist: bool, what: str) -> Path:
        """The real path of an API path, refused unless it stays inside the server root."""
        if not api_path or not api_path.strip():
            raise web.HTTPError(400, f"missing {what} path")
        if "\x00" in api_path:
            raise web.HTTPError(400, f"invalid {what} path")
        if too_long(api_path):  # the file system would answer ENAMETOOLONG to any question
            raise web.HTTPError(400, f"{what} path is too long for the file system")
        pure = PurePosixPath(api_path)
        if pure.is_absolute() or api_path.startswith(("~", "\\")) or ".." in pure.parts or (
                len(api_path) > 1 and api_path[1] == ":"):
            raise web.HTTPError(403, f"{what} path {api_path!r} is outside the server root")
        real = self._confine(self._root() / pure, api_path, what)
        if must_exist and not real.is_file():
            raise web.HTTPError(404, f"no such {what}: {api_path}")
        return real

    def _confine(self, path: Path, shown: str, what: str) -> Path:
        """The real path (symlinks resolved) of `path`, refused when it leaves the root."""
        root = self._root()
        real = Path(os.path.realpath(path))
        if real != root and root not in real.parents:
            raise web.HTTPError(403, f"{what} path {shown!r} leads outside the server root")
        return real

    def _api_path(self, real: Path) -> str:
        return real.relative_to(self._root()).as_posix()

    def _allow_hidden(self) -> bool:
        return bool(getattr(self.contents_manager, "allow_hidden", True))

    async def _notebook(self, api_path: str | None) -> Path:
        nb = self._resolve(api_path, must_exist=True, what="notebook")
        if nb.suffix != ".ipynb":
            raise web.HTTPError(400, f"not a notebook (.ipynb): {api_path}")
        cm = self.contents_manager  # hidden files stay hidden, as in the file browser
        if not self._allow_hidden() and await ensure_async(cm.is_hidden(self._api_path(nb))):
            raise web.HTTPError(404, f"no such notebook: {api_path}")
        return nb

    def _outdir(self, nb: Path, api_path: str | None) -> Path:
        """The real output folder: inside the root, not the root, not hidden (unless the
        contents manager shows hidden files), no symlink inside leading out. Blocking (walks
        the folder): called from the worker threads."""
        from nb2pipe.hooks.check import outdir_for

        if api_path:
            # decoded once already: a `%2e%2e` left would become a folder of that name (an
            # existing notebook may have any name; a folder we create should not)
            if _PERCENT_ESCAPE.search(api_path):
                raise web.HTTPError(400, f"output folder path {api_path!r} is percent-encoded "
                                         "twice; send it encoded once")
            out = self._resolve(api_path, must_exist=False, what="output folder")
        else:  # beside the notebook, whose real path is inside the root
            default = outdir_for(nb)
            out = self._confine(default, default.name, "output folder")
        root = self._root()
        if out == root:
            raise web.HTTPError(403, "the output folder cannot be the server root")
        hidden = hidden_part(PurePosixPath(self._api_path(out)))
        if hidden and not self._allow_hidden():
            raise web.HTTPError(403, f"the output folder {self._api_path(out)!r} is hidden "
                                     f"({hidden!r}); hidden files are not served here "
                                     "(ContentsManager.allow_hidden)")
        if out.is_dir():  # a symlink inside the folder must not lead the writer out
            for dirpath, dirnames, filenames in os.walk(out):
                for name in dirnames + filenames:
                    p = os.path.join(dirpath, name)
                    if os.path.islink(p):
                        target = Path(os.path.realpath(p))
                        if target != root and root not in target.parents:
                            raise web.HTTPError(403, "the output folder holds a symlink "
                                                     "leading outside the server root")
        return out

    def _readme(self, out: Path) -> str | None:
        readme = out / "README.md"
        return self._api_path(readme) if readme.is_file() else None

    def _json_body(self) -> dict[str, Any]:
        """The JSON object of a POST; any other body is a 400."""
        try:
            data = json.loads(self.request.body or b"{}")
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser
            raise web.HTTPError(400, "request body is not JSON (or nested too deeply)") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "request body must be a JSON object")
        return data

    def _body(self) -> dict[str, Any]:
        """The JSON object of a conversion request, its fields type-checked."""
        data = self._json_body()
        from nb2pipe.untrusted import SPLIT_MODES

        text_field(data.get("path"), "path", required=True)
        text_field(data.get("outdir"), "outdir", required=False)
        if not isinstance(data.get("force", False), bool):
            raise web.HTTPError(400, "'force' must be a boolean")
        split = text_field(data.get("split"), "split", required=False)
        if split is not None and split not in SPLIT_MODES:
            raise web.HTTPError(400, f"'split' must be one of {', '.join(SPLIT_MODES)}")
        return data

    def _status(self, nb: Path, out: Path) -> dict[str, Any]:
        """Blocking (hashes files): called from the worker threads. `serving`: whether the
        project has a verified serving path, and why not (planning/serving_status.py; None
        before a conversion)."""
        from nb2pipe.hooks.check import staleness
        from nb2pipe.planning.serving_status import project_serving_status

        state = staleness(nb, out)
        return {"stale": state.stale, "converted": state.converted,
                "problems": state.problems() if state.stale else [],
                "summary": state.summary(), "edited": list(state.edited),
                "not_nb2pipe": state.not_nb2pipe,
                "serving": project_serving_status(out) if state.converted else None}

    async def _off_loop(self, what: str, fn, *args) -> Any:
        """fn(*args) in a worker thread, given up after the configured timeout (504). The
        thread cannot be stopped; a conversion may still finish after the 504."""
        timeout = float(self.settings.get("nb2pipe_timeout", DEFAULT_TIMEOUT))
        future = asyncio.get_running_loop().run_in_executor(_pool, fn, *args)
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise web.HTTPError(504, f"nb2pipe gave up waiting for the {what} after "
                                     f"{timeout:g} s; the server goes on answering, and "
                                     "the work may still finish in the background") from None

    def _reply(self, data: dict[str, Any]) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, ensure_ascii=False, default=str))

    def _query(self, name: str, default: str | None = None) -> str | None:
        return self.get_query_argument(name, default)


class PreviewHandler(_Handler):
    """GET /nb2pipe/preview?path=nb.ipynb — the plan (steps, edges, parameters, code), the
    diagnostics with their explanations, and per cell its step and what was stripped from it
    (cellmarks.py), without writing anything.

    POST /nb2pipe/preview {"path", "notebook", "outdir"?, "split"?} — the same for the
    notebook as the editor holds it (`notebook`: its JSON object, unsaved edits included);
    `path` still places it and must exist. Nothing is saved."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        from nb2pipe.api import SPLIT_MODES

        nb = await self._notebook(self._query("path"))
        split = self._query("split", "auto")
        if split not in SPLIT_MODES:
            raise web.HTTPError(400, f"unknown split mode {split!r}")
        self._reply(await self._off_loop("preview", self._preview, nb, self._query("outdir"),
                                         split, None))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self._body()
        content = body.get("notebook")
        if not isinstance(content, dict):
            raise web.HTTPError(400, "'notebook' must be the notebook's JSON object")
        nb = await self._notebook(body["path"])
        self._reply(await self._off_loop("preview", self._preview, nb, body.get("outdir"),
                                         body.get("split") or "auto",
                                         json.dumps(content, ensure_ascii=False)))

    def _preview(self, nb: Path, outdir: str | None, split: str,
                 text: str | None) -> dict[str, Any]:
        from nb2pipe.api import plan_notebook
        from nb2pipe.jupyter.cellmarks import cell_marks, explanations

        out = self._outdir(nb, outdir)
        plan, diags, notebook = plan_notebook(nb, out, None, split, text=text)
        return {
            "path": self._api_path(nb), "outdir": self._api_path(out),
            "plan": plan.to_json() if plan is not None else None,
            "diagnostics": [d.to_json() for d in diags],
            "cells": cell_marks(plan, notebook), "explain": explanations(diags),
            "check": self._status(nb, out), "readme": self._readme(out),
        }


class ConvertHandler(_Handler):
    """POST /nb2pipe/convert {"path", "outdir"?, "force"?, "split"?} — write the project.

    An existing folder nb2pipe did not make (no lock of its own inside) is refused unless
    `force`: generated files must not be mixed into the user's data silently."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self._body()
        nb = await self._notebook(body["path"])
        self._reply(await self._off_loop("conversion", self._convert, nb, body.get("outdir"),
                                         body.get("force", False), body.get("split")))

    def _convert(self, nb: Path, outdir: str | None, force: bool,
                 split: str | None) -> dict[str, Any]:
        from nb2pipe.api import convert
        from nb2pipe.writer import foreign_folder, read_lock

        out = self._outdir(nb, outdir)
        with _write_lock(out):
            foreign = foreign_folder(out)
            if foreign and not force:
                raise web.HTTPError(409, f"output folder {self._api_path(out)!r}: {foreign}; "
                                         "choose another folder, or convert with force to "
                                         "write into it anyway")
            previous = (read_lock(out) or {}).get("options") or {}  # keep the CLI's choices
            res = convert(nb, out, name=previous.get("name"),
                          split=split or previous.get("split") or "auto", force=force,
                          base_image=previous.get("base_image"),
                          data_in_image=previous.get("data_in_image"),
                          lock_hashes=previous.get("lock_hashes") is True)
            data = res.to_json()
            data.update({
                "path": self._api_path(nb), "outdir": self._api_path(out),
                "readme": self._readme(out), "check": self._status(nb, out),
            })
        return data


class CheckHandler(_Handler):
    """GET /nb2pipe/hooks/check?path=nb.ipynb — is the generated pipeline up to date?"""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        nb = await self._notebook(self._query("path"))
        self._reply(await self._off_loop("check", self._check, nb, self._query("outdir")))

    def _check(self, nb: Path, outdir: str | None) -> dict[str, Any]:
        out = self._outdir(nb, outdir)
        data = self._status(nb, out)
        data.update({"path": self._api_path(nb), "outdir": self._api_path(out),
                     "readme": self._readme(out)})
        return data


def setup_handlers(web_app) -> None:
    from nb2pipe.jupyter import workbench
    from nb2pipe.jupyter.jobs import JobManager

    base = web_app.settings.get("base_url", "/")
    web_app.settings.setdefault("nb2pipe_jobs", JobManager())  # run / verify jobs (workbench)
    web_app.add_handlers(".*$", [
        (url_path_join(base, "nb2pipe", "preview"), PreviewHandler),
        (url_path_join(base, "nb2pipe", "convert"), ConvertHandler),
        (url_path_join(base, "nb2pipe", "check"), CheckHandler),
    ] + workbench.routes(lambda *parts: url_path_join(base, *parts)))
