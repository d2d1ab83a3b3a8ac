"""The server extension's REST endpoints, through a real jupyter-server (pytest-jupyter)."""

from __future__ import annotations

import json
import os
import urllib.parse
from http.cookies import SimpleCookie

import pytest
from tornado.httpclient import HTTPClientError

from sample_nb import write_sample

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"nb2pipe.jupyter": True}}}


@pytest.fixture
def notebook(jp_root_dir):
    write_sample(jp_root_dir / "work" / "sales.ipynb")
    return "work/sales.ipynb"


async def _error(coro) -> tuple[int, dict]:
    with pytest.raises(HTTPClientError) as info:
        await coro
    body = info.value.response.body if info.value.response is not None else b"{}"
    return info.value.code, json.loads(body or b"{}")


async def test_preview_returns_the_plan_without_writing(jp_fetch, jp_root_dir, notebook):
    r = await jp_fetch("nb2pipe", "preview", params={"path": notebook})
    data = json.loads(r.body)
    plan = data["plan"]
    assert [s["name"] for s in plan["steps"]] == ["load", "clean_step", "summarize"]
    steps = {s["name"]: s for s in plan["steps"]}
    assert steps["summarize"]["inputs"] == ["clean"]
    assert "clean_step" in steps["summarize"]["upstream"]
    assert "print(" in steps["summarize"]["body"]  # the stripped code comes along
    assert data["outdir"] == "work/sales_pipeline"
    assert data["check"]["converted"] is False and data["check"]["serving"] is None
    assert not (jp_root_dir / "work" / "sales_pipeline").exists()


async def test_convert_then_check(jp_fetch, jp_root_dir, notebook):
    r = await jp_fetch("nb2pipe", "convert", method="POST", body=json.dumps({"path": notebook}))
    data = json.loads(r.body)
    assert data["status"] == "converted", data["diagnostics"]
    assert "README.md" in data["written"]
    assert data["readme"] == "work/sales_pipeline/README.md"
    assert (jp_root_dir / "work" / "sales_pipeline" / "nb2pipe.lock.json").is_file()
    assert data["check"]["stale"] is False

    r = await jp_fetch("nb2pipe", "check", params={"path": notebook})
    assert json.loads(r.body)["stale"] is False
    # whether the project has a verified serving path (issue 16): this one predicts nothing
    serving = json.loads(r.body)["serving"]
    assert (serving["verified"], serving["status"]) == (False, "none")
    assert data["check"]["serving"] == serving
    readme = jp_root_dir / "work" / "sales_pipeline" / "README.md"
    readme.write_text(readme.read_text() + "\nmy note\n")
    data = json.loads((await jp_fetch("nb2pipe", "check", params={"path": notebook})).body)
    assert data["stale"] is True and data["edited"] == ["README.md"]

    # converting again keeps the hand edit and says so
    r = await jp_fetch("nb2pipe", "convert", method="POST", body=json.dumps({"path": notebook}))
    data = json.loads(r.body)
    assert data["kept"] == ["README.md"]
    assert "my note" in readme.read_text()


async def test_bad_notebook_gives_diagnostics_not_an_exception(jp_fetch, jp_root_dir):
    (jp_root_dir / "broken.ipynb").write_text("{not json")
    r = await jp_fetch("nb2pipe", "convert", method="POST",
                       body=json.dumps({"path": "broken.ipynb"}))
    data = json.loads(r.body)
    assert data["status"] == "failed"
    assert [d["code"] for d in data["diagnostics"]] == ["NB101"]


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_unauthenticated_requests_are_refused(jp_fetch, notebook, method):
    kwargs = ({"params": {"path": notebook}} if method == "GET"
              else {"method": "POST", "body": json.dumps({"path": notebook})})
    url = ("nb2pipe", "preview") if method == "GET" else ("nb2pipe", "convert")
    code, body = await _error(jp_fetch(*url, headers={"Authorization": ""}, **kwargs))
    assert code == 403
    assert "message" in body


async def test_cookie_session_needs_xsrf(jp_fetch, jp_serverapp, jp_root_dir, notebook):
    token = jp_serverapp.identity_provider.token
    login = await jp_fetch("api", "status", params={"token": token},
                           headers={"Authorization": ""})
    cookies = SimpleCookie()
    for header in login.headers.get_list("Set-Cookie"):
        cookies.load(header)
    session = "; ".join(f"{k}={m.value}" for k, m in cookies.items())
    assert any(k.startswith("username-") for k in cookies), "no login cookie was set"
    body = json.dumps({"path": notebook})
    # a cookie session without the XSRF token: refused
    code, _ = await _error(jp_fetch("nb2pipe", "convert", method="POST", body=body,
                                    headers={"Authorization": "", "Cookie": session}))
    assert code == 403
    assert not (jp_root_dir / "work" / "sales_pipeline").exists()
    # with the XSRF cookie echoed in the header: accepted
    xsrf = (await jp_fetch("api", "status", headers={"Authorization": "", "Cookie": session}))
    for header in xsrf.headers.get_list("Set-Cookie"):
        cookies.load(header)
    if "_xsrf" not in cookies:
        page = await jp_fetch("login", headers={"Authorization": ""})
        for header in page.headers.get_list("Set-Cookie"):
            cookies.load(header)
    session = "; ".join(f"{k}={m.value}" for k, m in cookies.items())
    r = await jp_fetch("nb2pipe", "convert", method="POST", body=body, headers={
        "Authorization": "", "Cookie": session,
        "X-XSRFToken": urllib.parse.unquote(cookies["_xsrf"].value)})
    assert json.loads(r.body)["status"] == "converted"


@pytest.mark.parametrize("path", ["../outside.ipynb", "/etc/passwd", "work/../../outside.ipynb",
                                  "link.ipynb", "linkdir/outside.ipynb"])
async def test_paths_outside_the_root_are_refused(jp_fetch, jp_root_dir, tmp_path, notebook,
                                                 path):
    outside = write_sample(tmp_path / "outside.ipynb")
    os.symlink(outside, jp_root_dir / "link.ipynb")
    os.symlink(tmp_path, jp_root_dir / "linkdir")
    for url, kwargs in [(("nb2pipe", "preview"), {"params": {"path": path}}),
                        (("nb2pipe", "check"), {"params": {"path": path}}),
                        (("nb2pipe", "convert"), {"method": "POST",
                                                  "body": json.dumps({"path": path})})]:
        code, body = await _error(jp_fetch(*url, **kwargs))
        assert code in (403, 404), (url, code)
        assert body.get("message"), body
    assert not (tmp_path / "outside_pipeline").exists()


async def test_output_folder_outside_the_root_is_refused(jp_fetch, jp_root_dir, tmp_path,
                                                         notebook):
    target = tmp_path / "elsewhere"
    target.mkdir()
    os.symlink(target, jp_root_dir / "work" / "sales_pipeline")  # the default output folder
    code, _ = await _error(jp_fetch("nb2pipe", "convert", method="POST",
                                    body=json.dumps({"path": notebook})))
    assert code == 403
    code, _ = await _error(jp_fetch("nb2pipe", "convert", method="POST",
                                    body=json.dumps({"path": notebook, "outdir": "../x"})))
    assert code == 403
    assert list(target.iterdir()) == []


async def test_missing_notebook_is_404(jp_fetch, jp_root_dir):
    code, body = await _error(jp_fetch("nb2pipe", "preview", params={"path": "nope.ipynb"}))
    assert code == 404 and "nope.ipynb" in body["message"]


def test_cli_and_extension_entry_points_do_not_import_jupyter_server(tmp_path):
    import subprocess
    import sys

    nb = write_sample(tmp_path / "sales.ipynb")
    code = ("import sys, nb2pipe.jupyter, nb2pipe.cli\n"
            f"rc = nb2pipe.cli.main(['check', '--ignore-unconverted', {str(nb)!r}])\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('jupyter_server', 'tornado', 'nbformat', 'libcst', 'black'))\n"
            "assert rc == 0 and not heavy, (rc, heavy)\n"
            "assert nb2pipe.jupyter._jupyter_server_extension_points() == "
            "[{'module': 'nb2pipe.jupyter'}]\n")
    subprocess.run([sys.executable, "-c", code], check=True)


class TestAuthorization:
    """The handlers ask the server's authorizer about resource `nb2pipe` (read / write)."""

    @pytest.fixture
    def jp_server_config(self):
        from jupyter_server.auth.authorizer import Authorizer

        class DenyNb2pipeWrites(Authorizer):
            def is_authorized(self, handler, user, action, resource):
                return not (resource == "nb2pipe" and action == "write")

        return {"ServerApp": {"jpserver_extensions": {"nb2pipe.jupyter": True},
                              "authorizer_class": DenyNb2pipeWrites}}

    async def test_authorizer_decides(self, jp_fetch, jp_root_dir, notebook):
        r = await jp_fetch("nb2pipe", "preview", params={"path": notebook})  # read: allowed
        assert json.loads(r.body)["plan"]["steps"]
        code, body = await _error(jp_fetch("nb2pipe", "convert", method="POST",
                                           body=json.dumps({"path": notebook})))
        assert code == 403 and "nb2pipe" in body["message"]
        assert not (jp_root_dir / "work" / "sales_pipeline").exists()


async def test_preview_shows_discovered_steps_with_their_boundaries(jp_fetch, jp_root_dir):
    """Issue 13: a notebook with no tags or headings is split by its data flow, and the panel
    gets each step's reason the same way as heading-based steps (split=flow too)."""
    from conftest import make_notebook
    from test_discover import CHURN

    make_notebook(jp_root_dir / "flow.ipynb", CHURN)
    for split in ("auto", "flow"):
        r = await jp_fetch("nb2pipe", "preview", params={"path": "flow.ipynb", "split": split})
        plan = json.loads(r.body)["plan"]
        assert plan["split"] == "flow"
        assert [s["name"] for s in plan["steps"]] == ["load_customers", "clean_df",
                                                      "train_random_forest", "evaluate_model"]
        assert plan["steps"][3]["boundary"] == (
            "3 values cross: X, model, y; phase fit -> evaluate")
