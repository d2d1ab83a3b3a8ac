"""Secrets out of the run store: step logs and errors are masked before they are stored.

A step may print a secret (`print(token)`, a traceback showing a header). The runner stores
step logs in `.nb2pipe/runs.db` and shows errors; before either, every occurrence of a secret's
value, and of its usual encodings (JSON / repr escapes, URL quoting, base64), becomes `***`.
The secrets are the environment variables the plan names as sources of secret-derived values
(`secret_derived`) and those in the project's git-ignored `secrets.local.env`, with the values
a step would see: the runner's environment first, then that file (the generated `_runtime`
never overrides a variable already set).

A value built from a secret that does not contain it verbatim (a hash, a base64 of
`user:password`) cannot be recognized in printed text: such values never become step outputs
(see nb2pipe/planning/recompute.py), but printing one is the notebook's own choice.
"""

from __future__ import annotations


import base64
import json
import os
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from nb2pipe.planning.model import PipelinePlan

LOCAL_FILE = "secrets.local.env"
MASK = "***"
MIN_LENGTH = 4  # shorter values would mask ordinary text


def local_secrets(root: Path) -> dict[str, str]:
    """NAME -> value from secrets.local.env (plain or JSON-quoted values, as written by
    conversion and read by the generated `_runtime.load_local_secrets`)."""
    try:
        text = (root / LOCAL_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            try:
                value = json.loads(value)
            except ValueError:
                pass
        out[name.strip()] = value
    return out


def secret_values(root: Path, plan: PipelinePlan,
                  environ: dict[str, str] | None = None) -> list[str]:
    """The values of the project's secrets, as a step would see them."""
    env = os.environ if environ is None else environ
    local = local_secrets(root)
    names = set(local)
    for _, envs in plan.secret_derived:
        names.update(envs)
    values = {v for n in names for v in (env.get(n), local.get(n)) if v}
    return sorted(values)


def _forms(value: str) -> set[str]:
    forms = {value, json.dumps(value)[1:-1], repr(value)[1:-1],
             urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)}
    raw = value.encode("utf-8", "replace")
    forms.add(base64.b64encode(raw).decode().rstrip("="))
    forms.add(base64.urlsafe_b64encode(raw).decode().rstrip("="))
    return {f for f in forms if len(f) >= MIN_LENGTH}


class Masker:
    """Replace secrets in text; callable. An empty masker returns text unchanged."""

    def __init__(self, values: Iterable[str]) -> None:
        forms: set[str] = set()
        for v in values:
            if len(v) >= MIN_LENGTH:
                forms |= _forms(v)
        self.forms = sorted(forms, key=lambda f: (-len(f), f))  # longest first

    def __call__(self, text: str) -> str:
        for f in self.forms:
            if f in text:
                text = text.replace(f, MASK)
        return text

    def logs(self, logs: dict[str, str]) -> dict[str, str]:
        return {k: self(v) for k, v in logs.items()}


def masker_for(root: Path, plan: PipelinePlan) -> Masker:
    return Masker(secret_values(root, plan))
