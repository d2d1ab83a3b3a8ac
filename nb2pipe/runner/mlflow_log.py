"""A run of the store, also as an MLflow run (`nb2pipe run --mlflow [URI]`, or when
MLFLOW_TRACKING_URI is set).

The run is logged after it ends, from what the store recorded, so MLflow sees exactly what
`nb2pipe runs show` shows and the runner's hot path never touches the network: one parent run
(the pipeline's parameters and metrics, git commit, notebook hash, the lineage as JSON) and a
nested run per step (its parameters, metrics, measured resources, its log, and as tags the
lineage facts: code hashes, package versions, data file hashes, input and output artifacts).
Model outputs (scikit-learn estimators) are logged as MLflow models with a signature and an
input example taken from the run's own data; `--register NAME` registers the last one.

mlflow is an optional extra (`pip install 'nb2pipe[mlflow]'`), imported only here. Secrets
stay out: logs come from the store (masked when the step ran) and are masked again, and
values the plan marks as built from a secret (`secret_derived`) are never logged.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

ENV_URI = "MLFLOW_TRACKING_URI"
_STATUS = {"finished": "FINISHED", "cached": "FINISHED", "failed": "FAILED"}
_TAG_KEY = re.compile(r"[^A-Za-z0-9_.\- /]")
_MAX_PARAM = 500  # the oldest servers' limit on a parameter value
_EXAMPLE_ROWS = 5


class MlflowError(Exception):
    """MLflow was asked for and cannot be used (not installed, server refused)."""


def target(flag: str | None, environ: dict[str, str] | None = None) -> str | None:
    """The tracking URI to log to: `--mlflow URI`, else MLFLOW_TRACKING_URI; None when MLflow
    is off; "" for `--mlflow` alone without the variable (mlflow's own default)."""
    env = os.environ if environ is None else environ
    if flag:
        return flag
    if env.get(ENV_URI):
        return env[ENV_URI]
    return "" if flag is not None else None


def require_mlflow() -> None:
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise MlflowError("MLflow tracking needs mlflow: pip install 'nb2pipe[mlflow]'") from None


def _ms(ts: float | None) -> int | None:
    return int(ts * 1000) if ts else None


def _tag(key: str) -> str:
    return _TAG_KEY.sub("_", key)[:250]


def _numeric(metrics: dict[str, Any], hidden: set[str]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()
            if k not in hidden and isinstance(v, (int, float)) and not isinstance(v, bool)}


class _Logger:
    """Logs one recorded run of one project to one tracking server."""

    def __init__(self, project_dir: Path, run_ref: str, uri: str):
        import mlflow
        from mlflow.tracking import MlflowClient

        from nb2pipe.runner import report
        from nb2pipe.runner.masking import masker_for
        from nb2pipe.runner.project import Project

        if uri:
            mlflow.set_tracking_uri(uri)
        self.mlflow = mlflow
        self.client = MlflowClient()
        self.report = report
        self.project_dir = Path(project_dir)
        self.project = Project(self.project_dir)
        self.mask = masker_for(self.project.root, self.project.plan)
        self.hidden = {n for n, _ in self.project.plan.secret_derived}
        self.run = report.show_run(self.project_dir, run_ref)
        self.models: list[dict[str, Any]] = []

    def _batch(self, run_id: str, params: dict[str, Any], metrics: dict[str, float],
               tags: dict[str, str], when: int) -> None:
        from mlflow.entities import Metric, Param, RunTag

        self.client.log_batch(
            run_id,
            metrics=[Metric(k, v, when, 0) for k, v in sorted(metrics.items())],
            params=[Param(k, self.mask(str(v))[:_MAX_PARAM]) for k, v in sorted(params.items())
                    if k not in self.hidden],
            tags=[RunTag(_tag(k), self.mask(str(v))[:5000]) for k, v in sorted(tags.items())])

    def _experiment(self) -> str:
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or self.project.package
        exp = self.client.get_experiment_by_name(name)
        return exp.experiment_id if exp else self.client.create_experiment(name)

    def log(self, register: str | None) -> dict[str, Any]:
        run = self.run
        exp = self._experiment()
        parent = self.client.create_run(
            exp, start_time=_ms(run["started"]), run_name=f"{self.project.package} run "
                                                           f"{run['id']}").info.run_id
        when = _ms(run["ended"] or run["started"]) or 0
        self._batch(parent, run["params"] or {}, _numeric(run["metrics"], self.hidden),
                    self._run_tags(), when)
        lineage = {k: v for k, v in run["lineage"].items()
                   if k.split(".", 1)[-1] not in self.hidden}
        self.client.log_text(parent, self.mask(json.dumps(lineage, indent=1, sort_keys=True)),
                             "nb2pipe/lineage.json")
        steps = {name: self._log_step(exp, parent, name, s)
                 for name, s in run["step_runs"].items()}
        registered = self._register(register) if register else None
        self.client.set_terminated(parent, _STATUS.get(run["status"], "KILLED"),
                                   end_time=_ms(run["ended"]))
        return {"run_id": parent, "experiment_id": exp, "steps": steps,
                "models": [{k: m[k] for k in ("step", "name", "uri")} for m in self.models],
                "registered": registered}

    def _run_tags(self) -> dict[str, str]:
        run = self.run
        tags = {"nb2pipe.run": run["id"], "nb2pipe.package": self.project.package,
                "nb2pipe.notebook": run["notebook"], "nb2pipe.python": run["python"],
                "nb2pipe.notebook_hash": self.project.plan.notebook_hash,
                "nb2pipe.status": run["status"], "mlflow.source.name": run["notebook"]}
        if run["git_commit"]:
            tags["mlflow.source.git.commit"] = run["git_commit"]
            tags["nb2pipe.git_dirty"] = bool(run["git_dirty"])
        if run["error"]:
            tags["nb2pipe.error"] = run["error"]
        return tags

    def _log_step(self, exp: str, parent: str, name: str, s: dict[str, Any]) -> str:
        sid = self.client.create_run(exp, start_time=_ms(s["started"]), run_name=name,
                                     tags={"mlflow.parentRunId": parent}).info.run_id
        metrics = _numeric(s["metrics"], self.hidden)
        if s.get("resources"):
            metrics["peak_memory_mb"] = s["resources"]["peak_rss_kb"] / 1024
            metrics["cpu_seconds"] = float(s["resources"]["cpu_seconds"])
        if s["seconds"] is not None:
            metrics["seconds"] = float(s["seconds"])
        self._batch(sid, s["params"] or {}, metrics, self._step_tags(name, s),
                    _ms(s["ended"] or s["started"]) or 0)
        logs = self.report.step_logs(self.project_dir, str(self.run["id"]), name)
        for stream in ("stdout", "stderr"):
            if logs[stream]:
                self.client.log_text(sid, self.mask(logs[stream]), f"logs/{stream}.txt")
        for out, meta in s["outputs"].items():
            if meta["format"] == "joblib" and out not in self.hidden and \
                    meta["sha256"] not in {m["sha256"] for m in self.models}:
                self._log_model(sid, name, out, meta["sha256"])
        self.client.set_terminated(sid, _STATUS.get(s["status"], "KILLED"),
                                   end_time=_ms(s["ended"]))
        return sid

    def _step_tags(self, name: str, s: dict[str, Any]) -> dict[str, str]:
        tags: dict[str, Any] = {"nb2pipe.step": name, "nb2pipe.status": s["status"],
                                "nb2pipe.fingerprint": s["fingerprint"] or ""}
        if s["cached_from_run"]:
            tags["nb2pipe.cached_from_run"] = s["cached_from_run"]
        if s["error"]:
            tags["nb2pipe.error"] = s["error"]
        for kind, key in (("code", "code"), ("package", "packages"), ("data", "data"),
                          ("input", "inputs")):
            for k, v in (s.get(key) or {}).items():
                tags[f"nb2pipe.{kind}.{k}"] = v
        for k, o in s["outputs"].items():
            if k not in self.hidden:
                tags[f"nb2pipe.output.{k}"] = o["sha256"]
        return tags

    # ---- models ---------------------------------------------------------------------------

    def _load(self, sha: str, name: str) -> Any:
        from nb2pipe.tracking.store import Store

        store = Store(self.project.root, create=False)
        try:
            folder = store.artifact_dir(sha)
        finally:
            store.close()
        return self.report._runtime(self.project).load_value(folder, name)

    def _log_model(self, sid: str, step: str, name: str, sha: str) -> None:
        model = self._load(sha, name)
        if not _is_sklearn(model):
            folder = self.project.root / ".nb2pipe" / "artifacts" / sha[:2] / sha
            self.client.log_artifacts(sid, str(folder), f"nb2pipe/outputs/{name}")
            return
        example = self._input_example(model)
        signature = None
        if example is not None:
            try:
                from mlflow.models import infer_signature

                signature = infer_signature(example, model.predict(example))
            except Exception:  # noqa: BLE001 - a model that cannot predict on its data
                example = None
        with self.mlflow.start_run(run_id=sid):
            info = _sklearn_log_model(self.mlflow, model, name, signature, example)
        self.models.append({"step": step, "name": name, "sha256": sha, "uri": info.model_uri})

    def _input_example(self, model: Any) -> Any:
        """The first rows of a table or array of this run that the model was fit on: same
        column names (feature_names_in_), else the same number of columns. Only the first
        rows are read: the run's tables may be large."""
        want = getattr(model, "n_features_in_", None)
        names = [str(n) for n in getattr(model, "feature_names_in_", [])]
        best = None
        for key in self.run["lineage"]:
            step, out = key.split(".", 1)
            meta = self.run["step_runs"][step]["outputs"].get(out)
            tabular = ("arrow", "parquet", "npy")
            if out in self.hidden or not meta or meta["format"] not in tabular:
                continue
            cols, head = _head(self.project.root, meta)
            if head is None or (want is not None and len(cols) != want):
                continue
            if names and cols == names:
                return head
            if best is None and (not names or meta["format"] == "npy"):
                best = head
        return best

    def _register(self, register: str) -> dict[str, Any] | None:
        if not self.models:
            raise MlflowError(f"--register {register}: the run has no scikit-learn model "
                              "to register")
        model = self.models[-1]
        version = self.mlflow.register_model(model["uri"], register)
        return {"name": register, "version": str(version.version), "output": model["name"],
                "step": model["step"]}


def _head(root: Path, meta: dict[str, Any]) -> tuple[list[str], Any]:
    """(column names, first rows) of a stored table or 2-d array, reading only those rows;
    ([], None) for anything else."""
    folder = root / ".nb2pipe" / "artifacts" / meta["sha256"][:2] / meta["sha256"]
    try:
        path = folder / json.loads((folder / "meta.json").read_text())["file"]
        if meta["format"] == "npy":
            import numpy as np

            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            if arr.ndim != 2:
                return [], None
            return [str(i) for i in range(arr.shape[1])], np.array(arr[:_EXAMPLE_ROWS])
        if meta["format"] == "arrow":
            import pyarrow as pa

            with pa.memory_map(str(path)) as source:
                reader = pa.ipc.open_file(source)
                cols = [n for n in reader.schema.names if not n.startswith("__index_level_")]
                if reader.num_record_batches == 0:
                    return cols, None
                first = reader.get_batch(0).slice(0, _EXAMPLE_ROWS).select(cols)
                return cols, first.to_pandas()
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        cols = [n for n in pf.schema_arrow.names if not n.startswith("__index_level_")]
        batch = next(pf.iter_batches(batch_size=_EXAMPLE_ROWS, columns=cols), None)
        return cols, None if batch is None else batch.to_pandas()
    except Exception:  # noqa: BLE001 - not readable as a table: no example from it
        return [], None


def _is_sklearn(obj: Any) -> bool:
    try:
        from sklearn.base import BaseEstimator
    except ImportError:
        return False
    return isinstance(obj, BaseEstimator)


def _sklearn_log_model(mlflow: Any, model: Any, name: str, signature: Any,
                       example: Any) -> Any:
    """mlflow >= 3 names a logged model with `name`; older releases with `artifact_path`."""
    import mlflow.sklearn

    # the format nb2pipe's own artifacts already use (joblib is pickle): newer mlflow
    # defaults to skops, which refuses common estimators (trees) unless each type is trusted
    kw = {"signature": signature, "input_example": example,
          "serialization_format": getattr(mlflow.sklearn, "SERIALIZATION_FORMAT_CLOUDPICKLE",
                                          "cloudpickle")}
    try:
        return mlflow.sklearn.log_model(model, name=name, **kw)
    except TypeError:
        return mlflow.sklearn.log_model(model, artifact_path=name, **kw)


def log_run(project_dir: Path, run_ref: str | int, uri: str,
            register: str | None = None) -> dict[str, Any]:
    """Log a recorded run to MLflow; the parent run's id, the steps' ids, the models."""
    require_mlflow()
    try:
        # mlflow prints links to its UI; stdout is nb2pipe's (`run --json`)
        with contextlib.redirect_stdout(sys.stderr):
            return _Logger(Path(project_dir), str(run_ref), uri).log(register)
    except MlflowError:
        raise
    except Exception as exc:  # noqa: BLE001 - the server's answer, as a message
        raise MlflowError(f"logging to MLflow at {uri or 'its default store'} failed: "
                          f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from None
