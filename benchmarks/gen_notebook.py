"""Generate realistic synthetic data-science notebooks of N cells for the nb2pipe benchmarks.

Usage::

    python benchmarks/gen_notebook.py 1000                   # -> benchmarks/out/nb_1000.ipynb
    python benchmarks/gen_notebook.py 10 100 500 -d /tmp/nbs  # several sizes into a folder
    python benchmarks/gen_notebook.py 500 -o my.ipynb --seed 3

The notebook looks like a long, messy, linear analysis notebook:

* an H1 title, an imports cell with ``%matplotlib inline``, a setup cell with seeds,
  ``pd.set_option`` and module-level constants (``CAP_Q``, ``MIN_ROWS``, ...);
* then sections of about 8 cells, each opened by an H2 heading (``## Load orders``,
  ``## Clean orders``, ``## Features: orders``, ``## Explore orders``, ``## Model orders``);
* code cells: ``pd.read_csv("data/<table>.csv")``, ``dropna/fillna/drop_duplicates/rename(...,
  inplace=True)``, ``t["c"] = ...``, rebinding ``t = t[t["c"] > 0]``, helper ``def``s (some read
  a global constant), ``t.head()`` / ``describe()`` / ``shape`` scratch cells, plot cells
  (``plt.figure(); t["a"].hist(); plt.show()``), groupby aggregates, a main ``df`` that many
  sections add columns to or filter (long-lived mutable state across steps), re-seeding, a
  ``LinearRegression`` / ``RandomForestRegressor`` fit with a score, occasional notes in markdown.

Table, column, helper and model names vary with the section so the notebook is not trivially
repetitive. Output is deterministic for a given (N, seed), and the notebook of N cells is a
prefix of the one of M > N cells (apart from the truncated last section), so timings across
sizes compare like with like.

The notebooks are written as plain nbformat-4.5 JSON (fixed cell ids, no outputs); the
generator needs only the standard library.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DIR = HERE / "out"

NOUNS = ["orders", "customers", "sessions", "products", "invoices", "events", "payments",
         "shipments", "reviews", "visits", "claims", "tickets", "accounts", "devices", "loans",
         "trips", "stores", "returns", "leads", "campaigns", "suppliers", "patients", "sensors",
         "listings"]
NUMERIC = ["amount", "price", "quantity", "duration", "score", "age", "tenure", "revenue",
           "discount", "weight", "distance", "rating", "clicks", "balance", "income",
           "latency", "cost", "margin", "volume", "temperature", "pressure", "visits_30d",
           "basket_size", "days_since_last"]
CATEGORICAL = ["region", "channel", "segment", "category", "status", "plan", "device_type",
               "country", "source", "tier"]
CONSTANTS = [("CAP_Q", "0.99"), ("MIN_ROWS", "10"), ("SCALE", "1000.0"), ("LOW_Q", "0.01"),
             ("N_BINS", "30"), ("MAX_RATIO", "50.0")]
NOTES = ["Looks like there are a few outliers here; capping them below.",
         "The distribution is heavily skewed, so a log transform should help.",
         "Some rows are duplicated in the export - dropping them.",
         "TODO: ask the data team why this column has negative values.",
         "Quick sanity check before moving on.",
         "Missing values are concentrated in one category."]
MAIN_COLS = ["user_id", "signup_days", "spend", "sessions_7d", "churned"]


def _code(src: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": src}


def _md(src: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": src}


class _Section:
    """Cells for one H2 section. `state` carries the tables loaded so far."""

    def __init__(self, idx: int, seed: int, state: dict):
        self.i = idx
        self.rng = random.Random(seed * 1_000_003 + idx)
        self.state = state

    def build(self) -> list[dict]:
        rng, st, i = self.rng, self.state, self.i
        new_table = not st["tables"] or rng.random() < 0.45
        if new_table:
            noun = NOUNS[(i * 7 + rng.randrange(3)) % len(NOUNS)]
            k = st["noun_uses"].get(noun, 0)
            st["noun_uses"][noun] = k + 1
            var = noun if k == 0 else f"{noun}_{k + 1}"
            cols = rng.sample(NUMERIC, 4)
            cat = rng.choice(CATEGORICAL)
            table = {"var": var, "cols": cols, "cat": cat, "file": f"data/{var}.csv",
                     "extra": []}
            st["tables"].append(table)
            kind = "load"
        else:
            table = st["tables"][-1] if rng.random() < 0.7 else rng.choice(st["tables"])
            kind = rng.choice(["clean", "features", "explore", "model", "features", "clean"])
        title = {"load": f"Load {table['var']}", "clean": f"Clean {table['var']}",
                 "features": f"Features: {table['var']}", "explore": f"Explore {table['var']}",
                 "model": f"Model {table['var']}"}[kind]
        title = title.replace("_", " ")
        st["titles"][title] = st["titles"].get(title, 0) + 1
        if st["titles"][title] > 1:
            title = f"{title} (part {st['titles'][title]})"
        cells = [_md(f"## {title}")]
        body: list[str] = []
        if kind == "load":
            body.append(self.load(table))
            body.append(self.peek(table))
        n_code = rng.choice([6, 7, 7, 7, 8])
        pool = {
            "load": [self.clean, self.clean, self.feature, self.rebind, self.plot, self.helper,
                     self.cross, self.main_df],
            "clean": [self.clean, self.clean, self.rebind, self.helper, self.peek, self.loop,
                      self.main_df],
            "features": [self.feature, self.feature, self.helper, self.loop, self.cross,
                         self.groupby, self.main_df],
            "explore": [self.plot, self.plot, self.peek, self.groupby, self.reseed,
                        self.main_df_plot],
            "model": [self.peek, self.plot],
        }[kind]
        if kind == "model":
            body.extend(self.model(table))
        # helpers come as (def, use) pairs, so a section may end up one cell longer
        while len(body) < n_code:
            out = rng.choice(pool)(table)
            body.extend(out if isinstance(out, list) else [out])
        for src in body:
            if rng.random() < 0.06:
                cells.append(_md(rng.choice(NOTES)))
            cells.append(_code(src))
        return cells

    # ---- cell templates -----------------------------------------------------------------
    def load(self, t) -> str:
        extra = ""
        if self.rng.random() < 0.3:
            extra = ", usecols=None, low_memory=False"
        return f'{t["var"]} = pd.read_csv("{t["file"]}"{extra})\nprint({t["var"]}.shape)'

    def peek(self, t) -> str:
        v = t["var"]
        return self.rng.choice([f"{v}.head()", f"{v}.describe()", f"{v}.shape", f"{v}.info()",
                                f"{v}.head(10)", f'{v}["{t["cat"]}"].value_counts()',
                                f"{v}.isna().sum()", "df.head()"])

    def clean(self, t) -> str:
        v, c = t["var"], self.rng.choice(t["cols"])
        return self.rng.choice([
            f'{v}.dropna(subset=["{c}"], inplace=True)',
            f'{v}.fillna({{"{c}": 0, "{t["cat"]}": "unknown"}}, inplace=True)',
            f"{v}.drop_duplicates(inplace=True)",
            f'{v}["{t["cat"]}"] = {v}["{t["cat"]}"].str.strip().str.lower()',
            f'{v}.reset_index(drop=True, inplace=True)',
            f'{v}["{c}"] = pd.to_numeric({v}["{c}"], errors="coerce")',
        ])

    def feature(self, t) -> str:
        v = t["var"]
        a, b = self.rng.sample(t["cols"], 2)
        kind = self.rng.choice(["log", "ratio", "z", "sq", "per"])
        new = f"{a}_per_{b}_{self.i}" if kind == "per" else f"{a}_{kind}_{self.i}"
        t["extra"].append(new)
        expr = {
            "log": f'np.log1p({v}["{a}"].clip(lower=0))',
            "ratio": f'{v}["{a}"] / ({v}["{b}"].abs() + 1)',
            "z": f'({v}["{a}"] - {v}["{a}"].mean()) / {v}["{a}"].std()',
            "sq": f'{v}["{a}"] ** 2',
            "per": f'{v}["{a}"] / {v}["{b}"].replace(0, np.nan)',
        }[kind]
        return f'{v}["{new}"] = {expr}'

    def rebind(self, t) -> str:
        v, c = t["var"], self.rng.choice(t["cols"])
        return self.rng.choice([
            f'{v} = {v}[{v}["{c}"] > 0]',
            f'{v} = {v}[{v}["{c}"].notna()].copy()',
            f'{v} = {v}.drop(columns=["{t["cat"]}_raw"], errors="ignore")',
            f'{v} = {v}[{v}["{c}"] < {v}["{c}"].quantile(CAP_Q)]',
            f'{v} = {v}.sort_values("{c}").reset_index(drop=True)',
        ])

    def helper(self, t) -> list[str]:
        v, c = t["var"], self.rng.choice(t["cols"])
        name = f"{self.rng.choice(['cap', 'clip', 'winsorize', 'normalize', 'bucketize'])}_{c}_{self.i}"
        q = self.rng.choice(["0.9", "0.95", "0.975"])
        body = self.rng.choice([
            # reads a notebook global constant
            f"def {name}(s):\n    \"\"\"Clip {c} at the CAP_Q quantile.\"\"\"\n"
            f"    hi = s.quantile(CAP_Q)\n    return s.clip(upper=hi)\n",
            f"def {name}(s, q={q}):\n"
            f"    lo, hi = s.quantile(1 - q), s.quantile(q)\n    return s.clip(lo, hi)\n",
            f"def {name}(s):\n    out = s.copy()\n    out[out < 0] = 0\n"
            f"    return out / SCALE\n",
            f"def {name}(s, bins=5):\n    return pd.qcut(s.rank(method=\"first\"), bins, "
            f"labels=False)\n",
        ])
        use = f'{v}["{c}_{name.split("_")[0]}_{self.i}"] = {name}({v}["{c}"])'
        return [body, use]

    def plot(self, t) -> str:
        v, c = t["var"], self.rng.choice(t["cols"] + t["extra"][-2:])
        return self.rng.choice([
            f'plt.figure(figsize=(8, 4))\n{v}["{c}"].hist(bins=N_BINS)\n'
            f'plt.title("{c} distribution")\nplt.show()',
            f'fig, ax = plt.subplots(figsize=(6, 4))\n'
            f'{v}.groupby("{t["cat"]}")["{c}"].mean().plot.bar(ax=ax)\nplt.show()',
            f'plt.figure()\nplt.scatter({v}["{t["cols"][0]}"], {v}["{c}"], s=3, alpha=0.5)\n'
            f'plt.xlabel("{t["cols"][0]}")\nplt.ylabel("{c}")\nplt.show()',
            f'{v}.boxplot(column="{c}", by="{t["cat"]}")\nplt.show()',
        ])

    def main_df_plot(self, t) -> str:
        c = self.rng.choice(MAIN_COLS[1:4])
        return f'plt.figure()\ndf["{c}"].hist()\nplt.show()'

    def groupby(self, t) -> list[str]:
        v, c = t["var"], self.rng.choice(t["cols"])
        agg = self.rng.choice(["mean", "median", "sum", "max"])
        name = f"{v}_{c}_by_{t['cat']}_{self.i}"
        return [f'{name} = {v}.groupby("{t["cat"]}")["{c}"].{agg}().sort_values(ascending=False)',
                f"{name}.head()"]

    def loop(self, t) -> str:
        v = t["var"]
        cols = self.rng.sample(t["cols"], 3)
        return self.rng.choice([
            f"for col in {cols!r}:\n    {v}[col] = {v}[col].astype(float)",
            f"for col in {cols!r}:\n    {v}[col] = {v}[col].fillna({v}[col].median())",
            f"stats_{self.i} = {{}}\nfor col in {cols!r}:\n"
            f"    stats_{self.i}[col] = {v}[col].describe()\nstats_{self.i}",
        ])

    def cross(self, t) -> str:
        others = [o for o in self.state["tables"] if o is not t]
        if not others:
            return self.feature(t)
        o = self.rng.choice(others)
        c = self.rng.choice(o["cols"])
        return (f'{t["var"]}["{o["var"]}_{c}_mean"] = {o["var"]}["{c}"].mean()\n'
                f'print("joined", len({t["var"]}), "rows")')

    def main_df(self, t) -> str:
        v, c = t["var"], self.rng.choice(t["cols"])
        return self.rng.choice([
            f'df["{v}_{c}_{self.i}"] = {v}["{c}"].median()',
            f'df = df[df["{MAIN_COLS[1]}"] >= 0]',
            f'df["spend_{self.i}"] = df["spend"] * {self.rng.randint(2, 9) / 10}',
            'df.fillna({"spend": 0}, inplace=True)',
        ])

    def reseed(self, t) -> str:
        v = t["var"]
        return (f"np.random.seed({self.i})\n"
                f"{v}_sample_{self.i} = {v}.sample(frac=0.1, random_state={self.i})\n"
                f"{v}_sample_{self.i}.shape")

    def model(self, t) -> list[str]:
        v, i = t["var"], self.i
        feats = t["cols"][:3] + t["extra"][-1:]
        target = t["cols"][3]
        est = self.rng.choice(["LinearRegression()",
                               f"RandomForestRegressor(n_estimators=50, random_state={i})",
                               "Ridge(alpha=1.0)"])
        return [
            f"features_{i} = {feats!r}\n"
            f'X_{i} = {v}[features_{i}].fillna(0)\ny_{i} = {v}["{target}"].fillna(0)',
            f"X_train_{i}, X_test_{i}, y_train_{i}, y_test_{i} = train_test_split(\n"
            f"    X_{i}, y_{i}, test_size=0.2, random_state=42)",
            f"model_{i} = {est}\nmodel_{i}.fit(X_train_{i}, y_train_{i})",
            f"pred_{i} = model_{i}.predict(X_test_{i})\n"
            f"r2_{i} = r2_score(y_test_{i}, pred_{i})\n"
            f"mae_{i} = mean_absolute_error(y_test_{i}, pred_{i})\n"
            f'print(f"{v}: R2={{r2_{i}:.3f}} MAE={{mae_{i}:.2f}}")',
            f"plt.figure()\nplt.scatter(y_test_{i}, pred_{i}, s=4)\nplt.show()",
            f"results[\"{v}_{i}\"] = {{\"r2\": r2_{i}, \"mae\": mae_{i}}}",
        ]


def _preamble(seed: int) -> list[dict]:
    consts = "\n".join(f"{k} = {val}" for k, val in CONSTANTS)
    return [
        _md("# Customer analytics - exploration and models\n\nLoads the raw exports, cleans "
            "them, builds features and fits a few baseline models."),
        _code("%matplotlib inline\nimport os\nimport random\nimport warnings\n\n"
              "import numpy as np\nimport pandas as pd\nimport matplotlib.pyplot as plt\n"
              "from sklearn.ensemble import RandomForestRegressor\n"
              "from sklearn.linear_model import LinearRegression, Ridge\n"
              "from sklearn.metrics import mean_absolute_error, r2_score\n"
              "from sklearn.model_selection import train_test_split\n\n"
              'warnings.filterwarnings("ignore")\npd.set_option("display.max_columns", 50)'),
        _code(f"np.random.seed({seed + 42})\nrandom.seed({seed})\n\n{consts}\nresults = {{}}"),
        _code('df = pd.read_csv("data/main.csv")\ndf.head()'),
    ]


def make_notebook(n_cells: int, seed: int = 0) -> dict:
    """An nbformat-4 notebook (as a dict) with exactly `n_cells` cells."""
    if n_cells < 1:
        raise ValueError("n_cells must be >= 1")
    cells = _preamble(seed)
    state: dict = {"tables": [], "noun_uses": {}, "titles": {}}
    i = 0
    while len(cells) < n_cells:
        cells.extend(_Section(i, seed, state).build())
        i += 1
    cells = cells[:n_cells]
    for k, c in enumerate(cells):
        c["id"] = f"c{k:05d}"
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python", "version": "3.11.0"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write_notebook(n_cells: int, path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(make_notebook(n_cells, seed), indent=1, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sizes", nargs="+", type=int, help="number of cells")
    ap.add_argument("-o", "--output", help="output file (one size only)")
    ap.add_argument("-d", "--dir", default=str(DEFAULT_DIR),
                    help="output folder for nb_<N>.ipynb (default: benchmarks/out)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.output and len(args.sizes) != 1:
        ap.error("-o works with one size only")
    for n in args.sizes:
        path = Path(args.output) if args.output else Path(args.dir) / f"nb_{n}.ipynb"
        write_notebook(n, path, args.seed)
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
