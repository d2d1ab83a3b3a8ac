"""What a step needs on a cluster and which values are its metrics, decided once, in planning:
the deploy emitters (Argo, KFP, Docker) and the generated tests only render these fields.

- `deploy_settings`: Kale-style tags (`limit:memory:2Gi`, `gpu:1`, `image:...`, `retry:3`,
  `timeout:30m`, `nodeselector:...`, `label:...`, `annotation:...`, `cache:false`) ->
  `StepDeploy`, with a note for each tag that cannot be used;
- `step_secrets`: the environment variables a step needs from the pipeline's Secret;
- `detect_metrics`: the values the notebook computes as model metrics, and which way is better.
"""

from __future__ import annotations

import ast
import re

from nb2pipe.planning.model import Better, Metric, StepDeploy

QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei|[eE][0-9]+)?$")
LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}"
                       r"[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
DURATION = re.compile(r"^(\d+)(s|m|h|d)?$")
GPU_RESOURCE = "nvidia.com/gpu"


def _key_value(rest: str) -> tuple[str, str] | None:
    """`key:value` or `key=value` (keys may hold '/' and '.', values may hold ':')."""
    if "=" in rest and (":" not in rest or rest.index("=") < rest.index(":")):
        k, v = rest.split("=", 1)
    elif ":" in rest:
        k, v = rest.rsplit(":", 1) if rest.count(":") > 1 and "/" in rest.rsplit(":", 1)[0] \
            else rest.split(":", 1)
    else:
        return None
    return k.strip(), v.strip()


def _seconds(text: str) -> int | None:
    m = DURATION.match(text.strip())
    if not m:
        return None
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}[m.group(2)]


def measured_resources(used: dict[str, float] | None) -> tuple[dict[str, str],
                                                                dict[str, str], str]:
    """Requests and a memory limit from what a local run of the step used (its process's peak
    resident memory and CPU time): memory request the peak plus a quarter, limit twice the
    peak (at least 128 MiB above the request), CPU request the cores it kept busy on average
    plus a fifth. ({}, {}, "") without a measurement."""
    if not used or used.get("peak_rss_kb", 0) <= 0:
        return {}, {}, ""
    peak_mib = used["peak_rss_kb"] / 1024
    request_mib = max(64, _round_up(peak_mib * 1.25, 16))
    limit_mib = _round_up(max(peak_mib * 2, request_mib + 128), 64)
    wall = used.get("wall_seconds") or 0.0
    cores = used["cpu_seconds"] / wall if wall > 0 else 0.1
    millicores = min(4000, max(100, _round_up(cores * 1.2 * 1000, 10)))
    why = (f"measured in run {used.get('run_id', '?')}: peak {peak_mib:.0f} MiB, "
           f"{used['cpu_seconds']:.1f} s CPU in {wall:.1f} s")
    return ({"cpu": f"{millicores}m", "memory": f"{request_mib}Mi"},
            {"memory": f"{limit_mib}Mi"}, why)


def _round_up(value: float, step: int) -> int:
    return int(-(-value // step) * step)


def deploy_settings(step: str, tags: tuple[str, ...], secrets: tuple[str, ...],
                    used: dict[str, float] | None = None) -> StepDeploy:
    """A step's placement and limits from what a local run measured (`used`), overridden by
    its tags. Unusable tags become notes, never exceptions."""
    image = None
    requests, limits, measured = measured_resources(used)
    retries = timeout = None
    nodes: dict[str, str] = {}
    labels: dict[str, str] = {}
    notes_: dict[str, str] = {}
    cache = None
    notes: list[str] = []
    for tag in tags:
        prefix, _, rest = tag.partition(":")
        rest = rest.strip()
        bad = f"step {step}: tag {tag!r}"
        if prefix == "image":
            image = rest or None
        elif prefix in ("limit", "request"):
            kv = _key_value(rest)
            if kv is None or not QUANTITY.match(kv[1]) or not kv[0]:
                notes.append(f"{bad} ignored: expected {prefix}:RESOURCE:QUANTITY, "
                              f"e.g. {prefix}:memory:2Gi")
                continue
            res = GPU_RESOURCE if kv[0] == "gpu" else kv[0]
            (limits if prefix == "limit" else requests)[res] = kv[1]
        elif prefix == "gpu":
            if not QUANTITY.match(rest):
                notes.append(f"{bad} ignored: expected gpu:COUNT")
                continue
            limits[GPU_RESOURCE] = rest
        elif prefix == "retry":
            if not rest.isdigit():
                notes.append(f"{bad} ignored: expected retry:COUNT")
                continue
            retries = int(rest)
        elif prefix == "timeout":
            secs = _seconds(rest)
            if secs is None:
                notes.append(f"{bad} ignored: expected timeout:SECONDS or 30m / 2h")
                continue
            timeout = secs
        elif prefix in ("nodeselector", "label", "annotation"):
            kv = _key_value(rest)
            ok = kv is not None and LABEL_KEY.match(kv[0]) and (
                prefix == "annotation" or LABEL_VALUE.match(kv[1]))
            if not ok or kv is None:
                notes.append(f"{bad} ignored: expected {prefix}:KEY:VALUE with a valid "
                              "Kubernetes label key/value")
                continue
            {"nodeselector": nodes, "label": labels, "annotation": notes_}[prefix][kv[0]] = kv[1]
        elif prefix == "cache":
            cache = rest.lower() not in ("false", "off", "no", "0", "disabled", "disable")
    # a request above its limit is invalid in Kubernetes: the limit wins
    for res, lim in limits.items():
        if res in requests and quantity(requests[res]) > quantity(lim):
            notes.append(f"step {step}: request {res}={requests[res]} is above its limit "
                         f"{lim}; using the limit")
            requests[res] = lim
    return StepDeploy(image=image, requests=requests, limits=limits, retries=retries,
                      timeout=timeout, node_selector=nodes, labels=labels, annotations=notes_,
                      cache=cache, secrets=secrets, notes=tuple(notes), measured=measured)


_SUFFIX = {"m": 1e-3, "k": 1e3, "Ki": 1024, "M": 1e6, "Mi": 1024**2, "G": 1e9, "Gi": 1024**3,
           "T": 1e12, "Ti": 1024**4, "P": 1e15, "Pi": 1024**5, "E": 1e18, "Ei": 1024**6}


def quantity(q: str) -> float:
    m = re.match(r"^([0-9.]+)(.*)$", q)
    if not m:
        return 0.0
    num, suf = float(m.group(1)), m.group(2)
    if suf[:1] in ("e", "E"):
        return num * 10 ** int(suf[1:])
    return num * _SUFFIX.get(suf, 1)


def _env_reads(code: str) -> list[str]:
    """Names read with os.environ[...] / os.environ.get(...) / os.getenv(...)."""
    from nb2pipe.analysis.taint import env_reads

    try:
        return env_reads(ast.parse(code))
    except SyntaxError:
        return []


def step_secrets(known: frozenset[str], codes: list[str]) -> tuple[str, ...]:
    """Environment variables a step needs from the pipeline's Kubernetes Secret: those its
    code (with replayed setup and shared functions: `codes`) reads from the environment and
    that are secrets: named by the secrets rewrite or a `secret:` tag (`known`), or
    credential-like. A tag alone adds nothing: a name the code never reads is never asked of
    the Secret (a pod would not start without it)."""
    from nb2pipe.analysis.secrets import SHAPES, looks_secret

    shaped = {env for env, _ in SHAPES}
    names = [n for code in codes for n in _env_reads(code)
             if n in known or n in shaped or looks_secret(n)]
    return tuple(sorted(dict.fromkeys(n for n in names if ENV_NAME.match(n))))


ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# ---- metrics ----------------------------------------------------------------------------------

HIGHER = {"accuracy_score", "balanced_accuracy_score", "f1_score", "precision_score",
          "recall_score", "roc_auc_score", "r2_score", "average_precision_score",
          "silhouette_score", "explained_variance_score", "matthews_corrcoef",
          "cohen_kappa_score", "jaccard_score", "top_k_accuracy_score", "adjusted_rand_score",
          "calinski_harabasz_score", "d2_absolute_error_score"}
LOWER = {"mean_absolute_error", "mean_squared_error", "root_mean_squared_error",
         "mean_absolute_percentage_error", "median_absolute_error", "log_loss",
         "brier_score_loss", "hamming_loss", "mean_squared_log_error", "zero_one_loss",
         "davies_bouldin_score", "max_error"}
_NAME_HIGHER = re.compile(r"(^|_)(acc|accuracy|auc|f1|precision|recall|r2|silhouette|score|"
                          r"coverage)(_|$)")
_NAME_LOWER = re.compile(r"(^|_)(mae|mse|rmse|mape|loss|error|err)(_|$)")


def _called(node: ast.AST) -> set[str]:
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            f = n.func
            out.add(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
    return out


def _direction(name: str, calls: frozenset[str] | set[str] = frozenset()) -> Better:
    if calls & HIGHER:
        return "higher"
    if calls & LOWER:
        return "lower"
    if _NAME_LOWER.search(name.lower()):
        return "lower"
    if _NAME_HIGHER.search(name.lower()):
        return "higher"
    return "unknown"


def detect_metrics(cell_metrics, steps) -> tuple[Metric, ...]:
    """(name, step, direction) of the values the notebook computes as metrics.

    From the metrics cells name (`pipeline-metrics`), and a light scan of each step's code:
    a single-name assignment whose value calls a known metric function (sklearn.metrics
    names, direct or wrapped as in `np.sqrt(mean_squared_error(...))`), or whose name reads
    like a metric (`mape`, `rmse_test`, `val_accuracy`, ...). Only names that are step outputs
    count, and the emitter keeps those whose captured value is a number.
    """
    found: dict[str, tuple[str, str]] = {}
    for m, step in cell_metrics:
        found[m] = (step, _direction(m))
    for s in steps:
        try:
            tree = ast.parse(s.body or "")
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                    isinstance(node.targets[0], ast.Name):
                name = node.targets[0].id
                calls = _called(node.value)
                if name not in s.outputs:
                    continue
                if calls & (HIGHER | LOWER) or _direction(name) != "unknown":
                    found[name] = (s.name, _direction(name, calls))
    return tuple(Metric(n, st, d) for n, (st, d) in sorted(found.items()))
