"""Emit Kubeflow Pipelines v2: deploy/kfp_pipeline.py (the pipeline in the kfp DSL, plain
text, always written) and deploy/kfp-pipeline.yaml (the compiled IR, written when the kfp SDK
is importable; kfp is an optional extra because it pins an older kubernetes client).

Each component is a container component that runs the same step entrypoint as Argo and the
local runner (`python -m <pkg> step NAME --inputs DIR --outputs DIR`); a short `sh` wrapper
links the KFP artifact paths into the entrypoint's input folder and copies its outputs back.
Without kfp, `nb2pipe compile-kfp PROJECT` (run where kfp is installed) compiles later.
"""

from __future__ import annotations

import json

from nb2pipe.emit import k8s, pyfmt
from nb2pipe.emit.package import header
from nb2pipe.planning.model import PipelinePlan, Step

SOURCE = "deploy/kfp_pipeline.py"
COMPILED = "deploy/kfp-pipeline.yaml"


# The kfp version the image carries for KFP's component executor, installed with --no-deps as
# KFP itself does at pod start: the one that compiles the pipeline when it is installed here.
KFP_DEFAULT_VERSION = "2.17.3"


def kfp_runtime_requirement() -> str:
    from importlib import metadata

    try:
        version = metadata.version("kfp")
    except metadata.PackageNotFoundError:
        version = KFP_DEFAULT_VERSION
    return f"kfp=={version}"


def kfp_available() -> bool:
    try:
        import kfp  # noqa: F401
        from kfp import compiler, dsl  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return False
    return True


def _ident(prefix: str, name: str) -> str:
    return f"{prefix}_{name.lstrip('_')}" if not name.startswith("_") else f"{prefix}_rng_state"


def _args(plan: PipelinePlan, step: Step) -> list[tuple[str, str, str]]:
    """(python name, kind, value name or path) of a component's arguments, in order."""
    flows = k8s.file_flows(plan)
    args: list[tuple[str, str, str]] = []
    for n, _ in k8s.value_inputs(plan, step):
        args.append((_ident("in", n), "input", n))
    for p in step.params:
        args.append((f"param_{p}", "param", p))
    for f in dict.fromkeys(f.path for f in flows if f.reader == step.name):
        args.append((_file_ident("file_in", f), "file_in", f))
    for n in k8s.value_outputs(step):
        args.append((_ident("out", n), "output", n))
    for f in dict.fromkeys(f.path for f in flows if f.writer == step.name):
        args.append((_file_ident("file_out", f), "file_out", f))
    for f in k8s.exported_files(plan, step):
        args.append((_file_ident("file_out", f), "file_export", f))
    if _metrics(plan, step):
        args.append(("metrics", "metrics", ""))
    return args


def _metrics(plan: PipelinePlan, step: Step) -> list[str]:
    return [m for m, s in plan.metrics if s == step.name and m in step.outputs]


def _file_ident(prefix: str, path: str) -> str:
    return f"{prefix}_" + k8s.file_artifact(path)[5:].replace("-", "_")


SIGNATURE = {"input": "dsl.Input[dsl.Artifact]", "file_in": "dsl.Input[dsl.Artifact]",
             "param": "str", "output": "dsl.Output[dsl.Artifact]",
             "file_out": "dsl.Output[dsl.Artifact]",
             "file_export": "dsl.Output[dsl.Artifact]", "metrics": "dsl.Output[dsl.Metrics]"}


def _s(text: str) -> str:
    return pyfmt.normalize_quotes(json.dumps(text))


def _call(func: str, *args) -> pyfmt.Br:
    return pyfmt.Br(f"{func}(", list(args), ")")


def _component(plan: PipelinePlan, step: Step) -> list[str]:
    """Source lines of one lightweight component (kfp.local's SubprocessRunner runs only
    those): it runs the step entrypoint in a subprocess, with KFP's artifact paths linked
    into the entrypoint's input folder and its outputs copied to KFP's output paths."""
    pkg = plan.package
    args = _args(plan, step)
    d = step.deploy
    image = _s(d.image) if d.image else "IMAGE"
    metrics = any(k == "metrics" for _, k, _ in args)
    runtime = any(k in ("file_in", "file_out", "file_export", "metrics") for _, k, _ in args)
    body: list = (["import importlib"] if runtime else []) + ["import os"] + (
        ["import pathlib"] if metrics else []) + [
        "import shutil", "import subprocess", "import sys", "import tempfile", "",
        "inputs, outputs = tempfile.mkdtemp(), tempfile.mkdtemp()"]
    if runtime:
        body += [("runtime = ", _call("importlib.import_module", _s(pkg + "._runtime"))),
                 "workdir = str(runtime.workdir())"]
    cmd = ["sys.executable"] + [_s(x) for x in ("-m", pkg, "step", step.name, "--inputs")] + \
        ["inputs", _s("--outputs"), "outputs"]
    after: list = []
    for py, kind, name in args:
        if kind == "input":
            body.append(_call("os.symlink", f"{py}.path",
                              _call("os.path.join", "inputs", _s(name))))
        elif kind == "param":
            cmd += [_s("--param"), f"{_s(name + '=')} + {py}"]
        elif kind == "file_in":
            body.append(("target = ", _call("os.path.join", "workdir", _s(name))))
            body.append("os.makedirs(os.path.dirname(target), exist_ok=True)")
            body.append(_call("shutil.copyfile", f"{py}.path", "target"))
        elif kind == "output":
            after.append(_call("shutil.copytree", _call("os.path.join", "outputs", _s(name)),
                               f"{py}.path", "dirs_exist_ok=True"))
        elif kind == "file_out":
            after.append(_call("os.makedirs", _call("os.path.dirname", f"{py}.path"),
                               "exist_ok=True"))
            after.append(_call("shutil.copyfile", _call("os.path.join", "workdir", _s(name)),
                               f"{py}.path"))
        elif kind == "file_export":
            # a declared output must exist when the component ends: a file the step did
            # not write this time (a branch not taken) is exported as an empty folder
            after.append(("source = ", _call("os.path.join", "workdir", _s(name))))
            after.append("if os.path.exists(source):")
            after.append(("    ", _call("shutil.copyfile", "source", f"{py}.path")))
            after.append("else:")
            after.append(("    ", _call("os.makedirs", f"{py}.path", "exist_ok=True")))
        elif kind == "metrics":
            for m in _metrics(plan, step):
                after.append(("value = ", _call("runtime.load_value",
                                                f"pathlib.Path(outputs) / {_s(m)}")))
                after.append("if isinstance(value, (int, float)) and not isinstance(value, bool):")
                after.append(("    ", _call("metrics.log_metric", _s(m), "float(value)")))
    body.append(_call("subprocess.run", pyfmt.Br("[", cmd, "]", "coll"), "check=True"))
    body += after
    params = [f"{py}: {SIGNATURE[kind]}" for py, kind, _ in args]
    lines = pyfmt.layout(_call("@dsl.component", f"base_image={image}",
                               "install_kfp_package=INSTALL_KFP"), 0)
    lines += pyfmt.layout(pyfmt.Br(f"def {step.name}_op(", params, "):", "def"), 0)
    lines.append(pyfmt.docstring(f"Step `{step.name}` ({step.title}): "
                                 f"`python -m {pkg} step {step.name}`.", 1))
    for item in body:
        lines += _body_line(item, 1)
    return lines + ["", ""]


def _body_line(item, depth: int) -> list[str]:
    """An item of a generated function body: "" (blank), a plain line, a bracketed call,
    or (prefix, bracketed) such as ("x = ", call); a prefix of spaces nests one level."""
    if isinstance(item, tuple):
        prefix, br = item
        if prefix.strip() == "":
            return pyfmt.layout(br, depth + len(prefix) // 4)
        return pyfmt.layout(br, depth, prefix)
    if isinstance(item, str):
        return [pyfmt.INDENT * depth + item if item else ""]
    return pyfmt.layout(item, depth)


def pipeline_source(plan: PipelinePlan) -> str:
    pkg = plan.package
    name = k8s.k8s_name(pkg.replace("_", "-"))
    doc = pyfmt.docstring(
        f"Kubeflow Pipelines v2 definition of {pkg} (from {plan.notebook}).\n\n"
        "Compile: nb2pipe compile-kfp PROJECT   (or: python deploy/kfp_pipeline.py OUT.yaml)\n"
        "Needs the kfp SDK (pip install 'nb2pipe[kfp]'); kfp-kubernetes adds secrets, node\n"
        "selectors, labels, annotations and timeouts when installed.", 0)
    out = [header(plan).rstrip(), doc, "",
           "import os", "import sys", "",
           "from kfp import compiler, dsl", "",
           "try:  # optional: Kubernetes-specific task settings",
           "    from kfp import kubernetes as kfp_k8s",
           "except ImportError:  # pragma: no cover",
           "    kfp_k8s = None", ""]
    out += pyfmt.layout(_call("os.environ.get", _s("NB2PIPE_IMAGE"),
                              _s(k8s.default_image(plan))), 0, "IMAGE = ")
    out.append(f"SECRET = {_s(k8s.secret_name(plan))}")
    out += ["# The image carries kfp (the Dockerfile installs it): no pip install at pod start,",
            "# which would need PyPI from the cluster. NB2PIPE_KFP_INSTALL=1 for another image.",
            "INSTALL_KFP = os.environ.get(\"NB2PIPE_KFP_INSTALL\", \"0\") == \"1\"", "", ""]
    for s in plan.steps:
        out += _component(plan, s)
    params = [f"{n}: str = {_s(lit)}" for n, lit in plan.parameters]
    out += pyfmt.layout(_call("@dsl.pipeline", f"name={_s(name)}",
                              f"description={_s(f'Generated by nb2pipe from {plan.notebook}')}"),
                        0)
    out += pyfmt.layout(pyfmt.Br("def pipeline(", params, "):", "def"), 0)
    flows = k8s.file_flows(plan)
    for s in plan.steps:
        kwargs = []
        sources = dict(k8s.value_inputs(plan, s))
        for py, kind, name in _args(plan, s):
            if kind == "input":
                kwargs.append(pyfmt.Br(f"{py}=t_{sources[name]}.outputs[",
                                       [_s(_ident('out', name))], "]"))
            elif kind == "param":
                kwargs.append(f"{py}={name}")
            elif kind == "file_in":
                writer = next(f.writer for f in flows if f.reader == s.name and f.path == name)
                kwargs.append(pyfmt.Br(f"{py}=t_{writer}.outputs[",
                                       [_s(_file_ident('file_out', name))], "]"))
        out += pyfmt.layout(_call(f"{s.name}_op", *kwargs), 1, f"t_{s.name} = ")
        out += pyfmt.layout(_call(f"t_{s.name}.set_display_name", _s(s.name)), 1)
        data_src = set(sources.values()) | {f.writer for f in flows if f.reader == s.name}
        for u in s.upstream:
            if u not in data_src:
                out.append(f"    t_{s.name}.after(t_{u})")
        out += _task_settings(plan, s)
    if not plan.steps:
        out.append("    pass")
    out += ["", "",
            "def compile_pipeline(path: str) -> str:",
            "    compiler.Compiler().compile(pipeline, path)",
            "    return path", "", "",
            'if __name__ == "__main__":',
            "    here = os.path.dirname(os.path.abspath(__file__))",
            "    default = os.path.join(here, \"kfp-pipeline.yaml\")",
            "    print(compile_pipeline(sys.argv[1] if len(sys.argv) > 1 else default))",
            ""]
    return "\n".join(out)


def _task_settings(plan: PipelinePlan, s: Step) -> list[str]:
    d = s.deploy
    t = f"t_{s.name}"
    lines = []
    setters = {("requests", "cpu"): "set_cpu_request", ("requests", "memory"): "set_memory_request",
               ("limits", "cpu"): "set_cpu_limit", ("limits", "memory"): "set_memory_limit"}
    wanted = k8s.resources(d)  # the same requests and limits as on Argo, defaults included
    for (kind, res), setter in setters.items():
        val = wanted.get(kind, {}).get(res)
        if val:
            lines += pyfmt.layout(_call(f"{t}.{setter}", _s(val)), 1)
    gpu = d.limits.get(k8s.GPU_RESOURCE)
    if gpu:
        lines += pyfmt.layout(_call(f"{t}.set_accelerator_type", _s(k8s.GPU_RESOURCE)), 1)
        lines += pyfmt.layout(_call(f"{t}.set_accelerator_limit", _s(gpu)), 1)
    if d.retries:
        lines.append(f"    {t}.set_retry(num_retries={d.retries})")
    if d.cache is False:
        lines.append(f"    {t}.set_caching_options(False)")
    k8s_lines: list[str] = [
        # the image's user; KFP's compiler adds the rest of the restricted profile
        # (no privilege escalation, capabilities dropped, RuntimeDefault seccomp)
        "        if hasattr(kfp_k8s, \"set_security_context\"):  # kfp-kubernetes 2.15+",
        *pyfmt.layout(_call("kfp_k8s.set_security_context", t, f"run_as_user={k8s.UID}",
                            f"run_as_group={k8s.UID}", "run_as_non_root=True"), 3)]
    if d.secrets:
        mapping = pyfmt.Br("secret_key_to_env={", [f"{_s(n)}: {_s(n)}" for n in sorted(d.secrets)],
                           "}", "coll")
        k8s_lines += pyfmt.layout(_call("kfp_k8s.use_secret_as_env", t, "secret_name=SECRET",
                                        mapping), 2)
    for key, val in sorted(d.node_selector.items()):
        k8s_lines += pyfmt.layout(_call("kfp_k8s.add_node_selector", t, f"label_key={_s(key)}",
                                        f"label_value={_s(val)}"), 2)
    for key, val in sorted(d.labels.items()):
        k8s_lines += pyfmt.layout(_call("kfp_k8s.add_pod_label", t, f"label_key={_s(key)}",
                                        f"label_value={_s(val)}"), 2)
    for key, val in sorted(d.annotations.items()):
        k8s_lines += pyfmt.layout(_call("kfp_k8s.add_pod_annotation", t,
                                        f"annotation_key={_s(key)}",
                                        f"annotation_value={_s(val)}"), 2)
    if d.timeout:
        k8s_lines.append(f"        kfp_k8s.set_timeout({t}, seconds={d.timeout})")
    if k8s_lines:
        lines += ["    if kfp_k8s is not None:"] + k8s_lines
    return lines


def compile_source(source: str, path: str) -> None:
    """Compile generated kfp DSL source to `path` (needs kfp). The source is imported from a
    file because kfp reads each component function's source text."""
    import importlib.util
    import sys
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        mod_path = Path(tmp) / "nb2pipe_kfp_pipeline.py"
        mod_path.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location("nb2pipe_kfp_pipeline", mod_path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules.pop("nb2pipe_kfp_pipeline", None)
        spec.loader.exec_module(module)
        module.compile_pipeline(path)


def compiled_yaml(plan: PipelinePlan, source: str) -> str | None:
    if not kfp_available():
        return None
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "kfp-pipeline.yaml"
        compile_source(source, str(target))
        text = target.read_text(encoding="utf-8")
    return "# " + header(plan).strip().lstrip("# ") + "\n" + text


def kfp_files(plan: PipelinePlan) -> dict[str, str]:
    source = pipeline_source(plan)
    files = {SOURCE: source}
    compiled = compiled_yaml(plan, source)
    if compiled is not None:
        files[COMPILED] = compiled
    return files
