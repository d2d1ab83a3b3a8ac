"""Reading the store back: status (staleness and why), runs list/show/compare, values.

Every function returns plain JSON-ready data; the CLI renders it as text or `--json`.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from nb2pipe.runner.fingerprint import Fingerprinter, fingerprint, reasons
from nb2pipe.runner.project import Project
from nb2pipe.tracking.store import STORE_DIR, Store


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


# ---- status -------------------------------------------------------------------------------

def project_status(project_dir: Path, param_items: list[str] | None = None) -> dict[str, Any]:
    """Which steps `nb2pipe run` would execute (stale) rather than serve from the store, and
    why, compared with each step's last recorded run."""
    project = Project(project_dir)
    overrides = project.parse_params(param_items or [])
    store = Store(project.root)
    try:
        fp = Fingerprinter(project, store, overrides)
        steps: dict[str, dict[str, Any]] = {}
        known: dict[str, dict[str, str]] = {}
        restored: dict[str, str] = {}  # files a cached step would put back, by path
        for name in project.order:
            st = project.steps[name]
            stale_ups = [u for u in st.upstream if steps[u]["stale"]]
            inputs = None if stale_ups else {n: known[src][n] for n, src in st.inputs}
            comps = fp.components(st, inputs, restored)
            latest = store.latest_finished(name)
            entry: dict[str, Any] = {"stale": True, "reasons": [], "run": None}
            if inputs is not None:
                row = store.find_cached(name, fingerprint(comps))
                if row is not None:
                    known[name] = store.outputs_of(row["id"])
                    restored.update({w["path"]: w["sha"] for w in store.written_of(row["id"])})
                    entry.update(stale=False, run=row["run_id"])
                    steps[name] = entry
                    continue
            why = reasons(_loads(latest["components"]) if latest else None, comps,
                          dict(st.inputs))
            why += [{"kind": "upstream", "detail": f"{u} is stale"}
                    for u in stale_ups]
            if not why:
                why = [{"kind": "store", "detail": "its artifacts are missing from the store"}]
            entry.update(reasons=why, run=latest["run_id"] if latest else None)
            steps[name] = entry
        store.flush_stat_cache()
    finally:
        store.close()
    stale = [s for s in project.order if steps[s]["stale"]]
    from nb2pipe.planning.serving_status import project_serving_status

    return {"project": str(project.root), "package": project.package, "stale": stale,
            "steps": steps, "notes": _conversion_notes(project),
            "serving": project_serving_status(project.root)}


def _conversion_notes(project: Project) -> list[str]:
    """The runner runs the generated code; say so when it no longer matches the notebook."""
    try:
        from nb2pipe.hooks.check import check_notebook
        from nb2pipe.writer import read_lock

        lock = read_lock(project.root) or {}
        if not lock.get("notebook"):
            return []
        notebook = (project.root / lock["notebook"]).resolve()
        return check_notebook(notebook, project.root) if notebook.exists() else []
    except Exception:  # noqa: BLE001 - a note is a bonus, never a failure of `status`
        return []


# ---- runs ---------------------------------------------------------------------------------

def _open(project_dir: Path) -> tuple[Project, Store]:
    project = Project(project_dir)
    store = Store(project.root, create=False)
    store.reap()
    return project, store


def _run_summary(store: Store, row: Any) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for r in store.rows("SELECT status, COUNT(*) FROM step_runs WHERE run_id=? GROUP BY status",
                     (row["id"],)):
        counts[r[0]] = r[1]
    metrics = {r["name"]: json.loads(r["value"]) for r in
               store.rows("SELECT name, value FROM metrics WHERE run_id=? ORDER BY name",
                       (row["id"],))}
    return {"id": row["id"], "status": row["status"], "started": row["started"],
            "ended": row["ended"],
            "seconds": round(row["ended"] - row["started"], 3) if row["ended"] else None,
            "params": _loads(row["params"]), "overrides": _loads(row["overrides"]),
            "git_commit": row["git_commit"],
            "git_dirty": None if row["git_dirty"] is None else bool(row["git_dirty"]),
            "git_error": row["git_error"], "python": row["python"], "steps": counts,
            "metrics": metrics, "error": row["error"], "executor": row["executor"],
            "no_cache": bool(row["no_cache"]), "jobs": row["jobs"]}


def list_runs(project_dir: Path) -> list[dict[str, Any]]:
    _, store = _open(project_dir)
    try:
        return [_run_summary(store, r) for r in store.rows("SELECT * FROM runs ORDER BY id")]
    finally:
        store.close()


def _step_detail(store: Store, sr: Any) -> dict[str, Any]:
    comps = _loads(sr["components"]) or {}
    origin = sr
    if sr["cached_from"]:
        origin = store.one("SELECT * FROM step_runs WHERE id=?", (sr["cached_from"],)) or sr
    outs = {}
    for o in store.rows("SELECT o.name, o.sha, o.version, a.format, a.type, a.size FROM outputs o "
                     "JOIN artifacts a ON a.sha=o.sha WHERE o.step_run_id=? ORDER BY o.name",
                     (sr["id"],)):
        outs[o["name"]] = {"sha256": o["sha"], "version": o["version"], "format": o["format"],
                           "type": o["type"], "size": o["size"]}
    written = {w["path"]: {"sha256": w["sha"], "size": w["size"]}
               for w in store.written_of(sr["id"])}
    metrics = {m["name"]: json.loads(m["value"]) for m in
               store.rows("SELECT name, value FROM metrics WHERE step_run_id=?", (sr["id"],))}
    return {"status": sr["status"], "fingerprint": sr["fingerprint"],
            "cached_from_run": origin["run_id"] if sr["cached_from"] else None,
            "started": sr["started"], "ended": sr["ended"],
            "seconds": round(origin["ended"] - origin["started"], 3)
            if origin["ended"] and origin["started"] else None,
            "error": sr["error"], "code": comps.get("code"), "params": comps.get("params"),
            "packages": comps.get("packages"), "inputs": comps.get("inputs"),
            "data": comps.get("data"), "outputs": outs,
            "not_persisted": store.not_persisted_of(sr["id"]), "written_files": written,
            "metrics": metrics, "resources": store.resources_of(origin["id"])}


def show_run(project_dir: Path, ref: str) -> dict[str, Any]:
    project, store = _open(project_dir)
    try:
        run_id = store.resolve_run(ref)
        row = store.one("SELECT * FROM runs WHERE id=?", (run_id,))
        out = _run_summary(store, row)
        out["notebook"] = row["notebook"]
        out["package"] = row["package"]
        steps = {}
        for name in project.order + [r["step"] for r in store.rows(
                "SELECT step FROM step_runs WHERE run_id=?", (run_id,))]:
            if name in steps:
                continue
            sr = store.one("SELECT * FROM step_runs WHERE run_id=? AND step=?", (run_id, name))
            if sr is not None:
                steps[name] = _step_detail(store, sr)
        out["step_runs"] = steps
        out["lineage"] = _lineage(project, steps)
        return out
    finally:
        store.close()


def _lineage(project: Project, steps: dict[str, dict]) -> dict[str, Any]:
    """Each artifact -> the step, code, parameters, inputs and data files that produced it,
    with the data files of all its ancestors."""
    ancestors_data: dict[str, dict[str, str]] = {}
    out: dict[str, Any] = {}
    for name in project.order:
        d = steps.get(name)
        if d is None:
            continue
        data = dict(d.get("data") or {})
        for up in project.steps[name].upstream if name in project.steps else ():
            data.update(ancestors_data.get(up, {}))
        ancestors_data[name] = data
        srcs = dict(project.steps[name].inputs) if name in project.steps else {}
        for art, meta in d["outputs"].items():
            out[f"{name}.{art}"] = {
                "sha256": meta["sha256"], "version": meta["version"], "step": name,
                "computed_in_run": d["cached_from_run"],
                "code": d.get("code"), "params": d.get("params"),
                "inputs": {i: {"sha256": sha, "from": srcs.get(i)}
                           for i, sha in (d.get("inputs") or {}).items()},
                "data": d.get("data") or {}, "all_data": data}
        for art, why in (d.get("not_persisted") or {}).items():
            out[f"{name}.{art}"] = {
                "sha256": None, "version": None, "persisted": False,
                "reason": why["reason"], "type": why["type"],
                "step": name, "computed_in_run": d["cached_from_run"],
                "code": d.get("code"), "params": d.get("params"),
                "inputs": {i: {"sha256": sha, "from": srcs.get(i)}
                           for i, sha in (d.get("inputs") or {}).items()},
                "data": d.get("data") or {}, "all_data": data}
    return out


def compare_runs(project_dir: Path, ref_a: str, ref_b: str) -> dict[str, Any]:
    a, b = show_run(project_dir, ref_a), show_run(project_dir, ref_b)

    def diff(x: dict, y: dict) -> dict[str, Any]:
        return {k: {"a": x.get(k), "b": y.get(k)} for k in sorted(set(x) | set(y))
                if x.get(k) != y.get(k)}

    metrics = {}
    for k in sorted(set(a["metrics"]) | set(b["metrics"])):
        va, vb = a["metrics"].get(k), b["metrics"].get(k)
        entry: dict[str, Any] = {"a": va, "b": vb, "changed": va != vb}
        if isinstance(va, (int, float)) and isinstance(vb, (int, float)):
            entry["delta"] = vb - va
        metrics[k] = entry
    artifacts = {}
    for key in sorted(set(a["lineage"]) | set(b["lineage"])):
        la, lb = a["lineage"].get(key), b["lineage"].get(key)
        artifacts[key] = {
            "a": la and {"sha256": la["sha256"], "version": la["version"]},
            "b": lb and {"sha256": lb["sha256"], "version": lb["version"]},
            "changed": (la or {}).get("sha256") != (lb or {}).get("sha256")}
    code, packages, data = {}, {}, {}
    for s in sorted(set(a["step_runs"]) | set(b["step_runs"])):
        sa, sb = a["step_runs"].get(s, {}), b["step_runs"].get(s, {})
        if d := diff(sa.get("code") or {}, sb.get("code") or {}):
            code[s] = d
        if d := diff(sa.get("packages") or {}, sb.get("packages") or {}):
            packages[s] = d
        if d := diff(sa.get("data") or {}, sb.get("data") or {}):
            data[s] = d
    return {"a": a["id"], "b": b["id"], "params": diff(a["params"] or {}, b["params"] or {}),
            "metrics": metrics, "artifacts": artifacts,
            "changed_artifacts": [k for k, v in artifacts.items() if v["changed"]],
            "code": code, "packages": packages, "data": data,
            "git": diff({"commit": a["git_commit"], "dirty": a["git_dirty"]},
                        {"commit": b["git_commit"], "dirty": b["git_dirty"]}),
            "status": {"a": a["status"], "b": b["status"]}}


def step_logs(project_dir: Path, ref: str, step: str) -> dict[str, Any]:
    _, store = _open(project_dir)
    try:
        run_id = store.resolve_run(ref)
        sr = store.one("SELECT * FROM step_runs WHERE run_id=? AND step=?", (run_id, step))
        if sr is None:
            raise KeyError(f"run {run_id} has no step {step!r}")
        sid = sr["cached_from"] or sr["id"]
        logs = {r["stream"]: r["text"] for r in
                store.rows("SELECT stream, text FROM logs WHERE step_run_id=?", (sid,))}
        return {"run": run_id, "step": step, "status": sr["status"], "error": sr["error"],
                "cached_from_step_run": sr["cached_from"], "stdout": logs.get("stdout", ""),
                "stderr": logs.get("stderr", "")}
    finally:
        store.close()


# ---- values -------------------------------------------------------------------------------

def artifact_folder(project_dir: Path, ref: str, name: str, step: str | None = None) -> Path:
    """The stored value folder of output `name` (of `step`, else its last producer) in a run."""
    project, store = _open(project_dir)
    try:
        run_id = store.resolve_run(ref)
        rows = store.rows("SELECT s.step, o.sha FROM outputs o JOIN step_runs s ON "
                       "s.id=o.step_run_id WHERE s.run_id=? AND o.name=?", (run_id, name))
        by_step = {r["step"]: r["sha"] for r in rows}
        if step is not None:
            sha = by_step.get(step)
        else:
            order = [s for s in project.order if s in by_step] or list(by_step)
            sha = by_step[order[-1]] if order else None
        if sha is None:
            why = _why_not_persisted(store, run_id, name, step)
            raise KeyError(f"run {run_id} has no output {name!r}"
                           + (f" of step {step!r}" if step else "")
                           + (f": not persisted ({why})" if why else ""))
        return store.artifact_dir(sha)
    finally:
        store.close()


def _why_not_persisted(store: Store, run_id: int, name: str, step: str | None) -> str:
    """The recorded reason a run has no artifact for `name` (empty when there is none)."""
    rows = store.rows("SELECT s.step, n.reason FROM not_persisted n JOIN step_runs s ON "
                   "s.id=n.step_run_id WHERE s.run_id=? AND n.name=?", (run_id, name))
    reasons = [r["reason"] for r in rows if step is None or r["step"] == step]
    return reasons[-1] if reasons else ""


def _runtime(project: Project) -> Any:
    if str(project.root) not in sys.path:
        sys.path.insert(0, str(project.root))
    return importlib.import_module(f"{project.package}._runtime")


def load_values(project_dir: Path, ref: str = "latest",
                names: list[str] | None = None) -> dict[str, Any]:
    """The final values of a run (each from its last producing step; parameters from the run),
    loaded with the generated package's own loader. Imports the package (and pandas)."""
    project, store = _open(project_dir)
    try:
        run_id = store.resolve_run(ref)
        params = _loads(store.one("SELECT params FROM runs WHERE id=?", (run_id,))[0]) or {}
        rows = store.rows("SELECT s.step, o.name, o.sha FROM outputs o JOIN step_runs s ON "
                       "s.id=o.step_run_id WHERE s.run_id=?", (run_id,))
        shas = {(r["step"], r["name"]): r["sha"] for r in rows}
        runtime = _runtime(project)
        wanted = names if names is not None else list(project.plan.final_names)
        producers = project.final_producers()
        out: dict[str, Any] = {}
        for n in wanted:
            prod = producers.get(n)
            if prod is None:
                for st in project.order:
                    if n in project.steps[st].outputs:
                        prod = st
            if prod is not None and (prod, n) in shas:
                out[n] = runtime.load_value(store.artifact_dir(shas[(prod, n)]), n)
            elif n in params:
                out[n] = params[n]
        return out
    finally:
        store.close()


def store_exists(project_dir: Path) -> bool:
    return (Path(project_dir) / STORE_DIR / "runs.db").exists()


# ---- keeping the store in bounds ------------------------------------------------------------

def gc_store(project_dir: Path, keep_last: int | None, keep_days: float | None,
             dry_run: bool = False) -> dict[str, Any]:
    """Delete the runs outside `keep_last`/`keep_days` and what only they reference (see
    tracking/gc.py), then compress the tables it kept that await it (tracking/compact.py);
    with dry_run, say what would go. Raises StoreBusy while a run is live."""
    from nb2pipe.tracking.compact import compact_store, stop_compactor
    from nb2pipe.tracking.gc import apply_gc, live_runs, plan_gc, store_size
    from nb2pipe.tracking.store import StoreBusy

    _, store = _open(project_dir)
    lock = compacting = None
    try:
        try:
            lock = store.lock_for_gc()
        except StoreBusy:
            live = live_runs(store)
            which = ", ".join(f"run {r['id']} (pid {r['pid']})" for r in live) or "a run"
            raise StoreBusy(f"{which} is in progress: gc deletes nothing while a run may reuse "
                            f"or write artifacts; run it again when the run has ended") from None
        if not dry_run:  # a compactor rewriting a table gc deletes: stopped (crash-safe)
            compacting = stop_compactor(store)
            if compacting is None:
                raise StoreBusy("a compaction of this store would not stop; try again")
        before = store_size(store)
        # a run marked running on another host (a shared store) holds no lock we can see:
        # its rows are kept, and unnamed folders (maybe its values) are left alone
        plan = plan_gc(store, keep_last, keep_days, sweep_orphans=not live_runs(store))
        freed = plan.freed
        if not dry_run:
            apply_gc(store, plan)
    finally:
        if compacting is not None:
            compacting.close()
        if lock is not None:
            lock.close()
    try:
        # what it kept is compressed after the store lock is let go: runs may start meanwhile
        compacted = None if dry_run else compact_store(Path(project_dir)).as_dict()
        after = before if dry_run else store_size(store)
        return {"dry_run": dry_run, "deleted_runs": plan.delete_runs,
                "kept_runs": plan.keep_runs, "artifacts": len(plan.artifacts),
                "files": len(plan.files), "orphans": len(plan.orphans),
                "taken_over": len(plan.takeovers), "compacted": compacted,
                "freed_bytes": freed if dry_run else max(before["total"] - after["total"], 0),
                "store_before": before, "store_after": after}
    finally:
        store.close()


def store_summary(project_dir: Path) -> dict[str, Any]:
    """The store's size on disk, and how many artifacts it holds."""
    from nb2pipe.tracking.compact import pending_bytes
    from nb2pipe.tracking.gc import store_size

    _, store = _open(project_dir)
    try:
        size = store_size(store)
        size["artifact_count"] = store.one("SELECT COUNT(*) FROM artifacts")[0]
        size["awaiting_compaction"] = pending_bytes(store)
        return size
    finally:
        store.close()
