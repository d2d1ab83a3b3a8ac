"""REST handlers: preview the plan of a notebook, convert it, check its pipeline.

Thin front end over the public API (`nb2pipe.api`, `nb2pipe.check`), like the CLI. Every
handler is authenticated and authorized (resource `nb2pipe`); jupyter-server enforces XSRF for
cookie sessions on the POST. Paths are API paths, resolved against the contents manager's root
and confined to it: absolute paths, `..` and symlinks leading out are refused.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path, PurePosixPath
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

AUTH_RESOURCE = "nb2pipe"
_locks: dict[str, asyncio.Lock] = {}  # one conversion at a time per output folder


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

    async def _notebook(self, api_path: str | None) -> Path:
        nb = self._resolve(api_path, must_exist=True, what="notebook")
        if nb.suffix != ".ipynb":
            raise web.HTTPError(400, f"not a notebook (.ipynb): {api_path}")
        cm = self.contents_manager  # hidden files stay hidden, as in the file browser
        if not getattr(cm, "allow_hidden", True) and await ensure_async(
                cm.is_hidden(self._api_path(nb))):
            raise web.HTTPError(404, f"no such notebook: {api_path}")
        return nb

    def _outdir(self, nb: Path, api_path: str | None) -> Path:
        from nb2pipe.check import outdir_for

        if api_path:
            out = self._resolve(api_path, must_exist=False, what="output folder")
        else:  # beside the notebook, whose real path is inside the root
            default = outdir_for(nb)
            out = self._confine(default, default.name, "output folder")
        root = self._root()
        if out == root:
            raise web.HTTPError(403, "the output folder cannot be the server root")
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

    def _body(self) -> dict[str, Any]:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise web.HTTPError(400, "request body is not JSON") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "request body must be a JSON object")
        return data

    def _status(self, nb: Path, out: Path) -> dict[str, Any]:
        from nb2pipe.check import staleness

        state = staleness(nb, out)
        return {"stale": state.stale, "converted": state.converted,
                "problems": state.problems() if state.stale else [],
                "summary": state.summary(), "edited": list(state.edited)}

    async def _run(self, fn, *args, **kwargs):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: fn(*args, **kwargs))

    def _reply(self, data: dict[str, Any]) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, ensure_ascii=False, default=str))


class PreviewHandler(_Handler):
    """GET /nb2pipe/preview?path=nb.ipynb — the plan (steps, edges, parameters, code) and the
    diagnostics, without writing anything."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        from nb2pipe.api import SPLIT_MODES, plan_notebook

        nb = await self._notebook(self.get_query_argument("path", None))
        out = self._outdir(nb, self.get_query_argument("outdir", None))
        split = self.get_query_argument("split", "auto")
        if split not in SPLIT_MODES:
            raise web.HTTPError(400, f"unknown split mode {split!r}")
        plan, diags, _ = await self._run(plan_notebook, nb, out, None, split)
        self._reply({
            "path": self._api_path(nb), "outdir": self._api_path(out),
            "plan": plan.to_json() if plan is not None else None,
            "diagnostics": [d.to_json() for d in diags],
            "check": self._status(nb, out), "readme": self._readme(out),
        })


class ConvertHandler(_Handler):
    """POST /nb2pipe/convert {"path", "outdir"?, "force"?, "split"?} — write the project."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        from nb2pipe.api import convert

        body = self._body()
        nb = await self._notebook(body.get("path"))
        out = self._outdir(nb, body.get("outdir"))
        from nb2pipe.writer import read_lock

        previous = (read_lock(out) or {}).get("options") or {}  # keep the CLI's choices
        force = body.get("force", False)
        split = body.get("split") or previous.get("split") or "auto"
        if not isinstance(force, bool) or not isinstance(split, str):
            raise web.HTTPError(400, "force must be a boolean and split a string")
        async with _locks.setdefault(str(out), asyncio.Lock()):
            res = await self._run(convert, nb, out, name=previous.get("name"), split=split,
                                  force=force)
        data = res.to_json()
        data.update({
            "path": self._api_path(nb), "outdir": self._api_path(out),
            "readme": self._readme(out), "check": self._status(nb, out),
        })
        self._reply(data)


class CheckHandler(_Handler):
    """GET /nb2pipe/check?path=nb.ipynb — is the generated pipeline up to date?"""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        nb = await self._notebook(self.get_query_argument("path", None))
        out = self._outdir(nb, self.get_query_argument("outdir", None))
        data = self._status(nb, out)
        data.update({"path": self._api_path(nb), "outdir": self._api_path(out),
                     "readme": self._readme(out)})
        self._reply(data)


def setup_handlers(web_app) -> None:
    base = web_app.settings.get("base_url", "/")
    web_app.add_handlers(".*$", [
        (url_path_join(base, "nb2pipe", "preview"), PreviewHandler),
        (url_path_join(base, "nb2pipe", "convert"), ConvertHandler),
        (url_path_join(base, "nb2pipe", "check"), CheckHandler),
    ])
