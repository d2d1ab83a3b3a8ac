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

from nb2pipe.emit import k8s
from nb2pipe.emit.package import header
from nb2pipe.planning.model import PipelinePlan, Step

SOURCE = "deploy/kfp_pipeline.py"
COMPILED = "deploy/kfp-pipeline.yaml"


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
    if _metrics(plan, step):
        args.append(("metrics", "metrics", ""))
    return args


def _metrics(plan: PipelinePlan, step: Step) -> list[str]:
    return [m for m, s in plan.metrics if s == step.name and m in step.outputs]


def _file_ident(prefix: str, path: str) -> str:
    return f"{prefix}_" + k8s.file_artifact(path)[5:].replace("-", "_")


SIGNATURE = {"input": "dsl.Input[dsl.Artifact]", "file_in": "dsl.Input[dsl.Artifact]",
             "param": "str", "output": "dsl.Output[dsl.Artifact]",
             "file_out": "dsl.Output[dsl.Artifact]", "metrics": "dsl.Output[dsl.Metrics]"}


def _component(plan: PipelinePlan, step: Step) -> list[str]:
    """Source lines of one lightweight component (kfp.local's SubprocessRunner runs only
    those): it runs the step entrypoint in a subprocess, with KFP's artifact paths linked
    into the entrypoint's input folder and its outputs copied to KFP's output paths."""
    pkg = plan.package
    args = _args(plan, step)
    d = k8s.step_deploy(plan, step)
    image = json.dumps(d.image) if d.image else "IMAGE"
    body = ["import os", "import shutil", "import subprocess", "import sys", "import tempfile",
            "", "inputs, outputs = tempfile.mkdtemp(), tempfile.mkdtemp()"]
    if any(k in ("file_in", "file_out", "metrics") for _, k, _ in args):
        body += ["import importlib",
                 f"runtime = importlib.import_module({json.dumps(pkg + '._runtime')})",
                 "workdir = str(runtime.workdir())"]
    cmd = [json.dumps(x) for x in ("-m", pkg, "step", step.name, "--inputs")] + ["inputs"] + \
        [json.dumps("--outputs"), "outputs"]
    after: list[str] = []
    for py, kind, name in args:
        if kind == "input":
            body.append(f"os.symlink({py}.path, os.path.join(inputs, {json.dumps(name)}))")
        elif kind == "param":
            cmd += [json.dumps("--param"), f"{json.dumps(name + '=')} + {py}"]
        elif kind == "file_in":
            body.append(f"target = os.path.join(workdir, {json.dumps(name)})")
            body.append("os.makedirs(os.path.dirname(target), exist_ok=True)")
            body.append(f"shutil.copyfile({py}.path, target)")
        elif kind == "output":
            after.append(f"shutil.copytree(os.path.join(outputs, {json.dumps(name)}), {py}.path,"
                         " dirs_exist_ok=True)")
        elif kind == "file_out":
            after.append(f"os.makedirs(os.path.dirname({py}.path), exist_ok=True)")
            after.append(f"shutil.copyfile(os.path.join(workdir, {json.dumps(name)}), {py}.path)")
        elif kind == "metrics":
            for m in _metrics(plan, step):
                after.append(f"value = runtime.load_value(__import__(\"pathlib\").Path(outputs) "
                             f"/ {json.dumps(m)})")
                after.append("if isinstance(value, (int, float)) and not isinstance(value, bool):")
                after.append(f"    metrics.log_metric({json.dumps(m)}, float(value))")
    body.append(f"subprocess.run([sys.executable, {', '.join(cmd)}], check=True)")
    body += after
    params = ", ".join(f"{py}: {SIGNATURE[kind]}" for py, kind, _ in args)
    lines = [f"@dsl.component(base_image={image}, install_kfp_package=INSTALL_KFP)",
             f"def {step.name}_op({params}):",
             f'    """Step `{step.name}` ({step.title}): `python -m {pkg} step {step.name}`."""']
    lines += [f"    {ln}" if ln else "" for ln in body]
    return lines + ["", ""]


def pipeline_source(plan: PipelinePlan) -> str:
    pkg = plan.package
    name = k8s.k8s_name(pkg.replace("_", "-"))
    out = [header(plan).rstrip(),
           f'"""Kubeflow Pipelines v2 definition of {pkg} (from {plan.notebook}).',
           "",
           "Compile: nb2pipe compile-kfp PROJECT   (or: python deploy/kfp_pipeline.py OUT.yaml)",
           "Needs the kfp SDK (pip install 'nb2pipe[kfp]'); kfp-kubernetes adds secrets, node",
           'selectors, labels, annotations and timeouts when installed."""', "",
           "import os", "import sys", "",
           "from kfp import compiler, dsl", "",
           "try:  # optional: Kubernetes-specific task settings",
           "    from kfp import kubernetes as kfp_k8s",
           "except ImportError:  # pragma: no cover",
           "    kfp_k8s = None", "",
           f"IMAGE = os.environ.get(\"NB2PIPE_IMAGE\", {json.dumps(k8s.default_image(plan))})",
           f"SECRET = {json.dumps(k8s.secret_name(plan))}",
           "# KFP installs itself into the step image at run time unless told the image has it",
           "INSTALL_KFP = os.environ.get(\"NB2PIPE_KFP_INSTALL\", \"1\") == \"1\"", "", ""]
    for s in plan.steps:
        out += _component(plan, s)
    params = ", ".join(f"{n}: str = {json.dumps(lit)}" for n, lit in plan.parameters)
    out += [f"@dsl.pipeline(name={json.dumps(name)}, description="
            f"{json.dumps(f'Generated by nb2pipe from {plan.notebook}')})",
            f"def pipeline({params}):"]
    flows = k8s.file_flows(plan)
    for s in plan.steps:
        kwargs = []
        sources = dict(k8s.value_inputs(plan, s))
        for py, kind, name in _args(plan, s):
            if kind == "input":
                kwargs.append(f"{py}=t_{sources[name]}.outputs[{json.dumps(_ident('out', name))}]")
            elif kind == "param":
                kwargs.append(f"{py}={name}")
            elif kind == "file_in":
                writer = next(f.writer for f in flows if f.reader == s.name and f.path == name)
                kwargs.append(f"{py}=t_{writer}.outputs["
                              f"{json.dumps(_file_ident('file_out', name))}]")
        out.append(f"    t_{s.name} = {s.name}_op({', '.join(kwargs)})")
        out.append(f"    t_{s.name}.set_display_name({json.dumps(s.name)})")
        data_src = set(sources.values()) | {f.writer for f in flows if f.reader == s.name}
        for u in s.upstream:
            if u not in data_src:
                out.append(f"    t_{s.name}.after(t_{u})")
        out += _task_settings(plan, s)
    out += ["", "",
            "def compile_pipeline(path: str) -> str:",
            "    compiler.Compiler().compile(pipeline, path)",
            "    return path", "", "",
            'if __name__ == "__main__":',
            "    print(compile_pipeline(sys.argv[1] if len(sys.argv) > 1 else "
            "os.path.join(os.path.dirname(os.path.abspath(__file__)), \"kfp-pipeline.yaml\")))",
            ""]
    return "\n".join(out)


def _task_settings(plan: PipelinePlan, s: Step) -> list[str]:
    d = k8s.step_deploy(plan, s)
    t = f"t_{s.name}"
    lines = []
    setters = {("requests", "cpu"): "set_cpu_request", ("requests", "memory"): "set_memory_request",
               ("limits", "cpu"): "set_cpu_limit", ("limits", "memory"): "set_memory_limit"}
    for (kind, res), setter in setters.items():
        val = getattr(d, kind).get(res)
        if val:
            lines.append(f"    {t}.{setter}({json.dumps(val)})")
    gpu = d.limits.get(k8s.GPU_RESOURCE)
    if gpu:
        lines.append(f"    {t}.set_accelerator_type({json.dumps(k8s.GPU_RESOURCE)})"
                     f".set_accelerator_limit({json.dumps(gpu)})")
    if d.retries:
        lines.append(f"    {t}.set_retry(num_retries={d.retries})")
    if d.cache is False:
        lines.append(f"    {t}.set_caching_options(False)")
    k8s_lines = []
    if d.secrets:
        mapping = {n: n for n in d.secrets}
        k8s_lines.append(f"        kfp_k8s.use_secret_as_env({t}, secret_name=SECRET, "
                         f"secret_key_to_env={json.dumps(mapping, sort_keys=True)})")
    for key, val in sorted(d.node_selector.items()):
        k8s_lines.append(f"        kfp_k8s.add_node_selector({t}, label_key={json.dumps(key)}, "
                         f"label_value={json.dumps(val)})")
    for key, val in sorted(d.labels.items()):
        k8s_lines.append(f"        kfp_k8s.add_pod_label({t}, label_key={json.dumps(key)}, "
                         f"label_value={json.dumps(val)})")
    for key, val in sorted(d.annotations.items()):
        k8s_lines.append(f"        kfp_k8s.add_pod_annotation({t}, annotation_key="
                         f"{json.dumps(key)}, annotation_value={json.dumps(val)})")
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
