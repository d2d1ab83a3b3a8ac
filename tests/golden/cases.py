"""Focused golden cases: each is a small notebook exercising one analysis rule.

Cells: ("code"|"md", source, [tags]). `python tests/golden/cases.py` writes
tests/golden/<case>/notebook.ipynb; the expected trees are written by the golden test with
NB2PIPE_REGEN_GOLDEN=1.
"""

from __future__ import annotations

from pathlib import Path

C, M = "code", "md"

CASES: dict[str, list[tuple]] = {
    # in-place mutation kinds, each in a later step than the binding
    "mutation_kinds": [
        (M, "## Load"),
        (C, "import pandas as pd\nimport numpy as np"),
        (C, "df = pd.DataFrame({'a': [1.0, None, 3.0, 4.0], 'b': [1, 2, 3, 4]})\n"
            "lst = [1]\nd = {'k': 1}\nclass Box:\n    pass\nbox = Box()\ncounter = 0"),
        (M, "## Mutate"),
        (C, "df.fillna(0, inplace=True)\n"
            "df['c'] = df['a'] * 2\n"
            "lst.append(2)\nlst.extend([3, 4])\nd.update({'j': 2})\n"
            "box.value = 10\ncounter += 1\ndel d['k']"),
        (M, "## Use"),
        (C, "total = df['c'].sum() + sum(lst) + len(d) + box.value + counter"),
    ],
    # df rebound many times across steps: each reader gets the right producer
    "rebinding": [
        (M, "## One"),
        (C, "import pandas as pd\ndf = pd.DataFrame({'x': range(10)})\ndf2 = df.copy()"),
        (M, "## Two"),
        (C, "df = df[df.x > 2]\ndf = df.assign(y=df.x * 2)"),
        (C, "df.head()"),
        (M, "## Three"),
        (C, "df = df.reset_index(drop=True)\ndf2 = df2.assign(z=1)"),
        (M, "## Four"),
        (C, "result = len(df) + len(df2) + df.y.sum()"),
    ],
    # mutation inside a loop over [train, test]
    "loop_mutation": [
        (M, "## Split"),
        (C, "import pandas as pd\nfull = pd.DataFrame({'a': [1.0, None, 3.0, None], 'b': [4, 5, 6, 7]})\n"
            "train = full.iloc[:2].copy()\ntest = full.iloc[2:].copy()"),
        (M, "## Fill"),
        (C, "for frame in [train, test]:\n    frame.fillna(-1, inplace=True)\n"
            "    frame['ratio'] = frame['a'] / frame['b']"),
        (M, "## Score"),
        (C, "score = float(train['ratio'].sum() + test['ratio'].sum())"),
    ],
    # setup state reaches later steps; the RNG state is threaded exactly
    "setup_state": [
        (M, "## Setup"),
        (C, "import random\nimport warnings\nimport numpy as np\nimport pandas as pd"),
        (C, "np.random.seed(7)\nrandom.seed(7)\npd.set_option('display.max_rows', 20)\n"
            "warnings.filterwarnings('ignore')"),
        (M, "## Draw"),
        (C, "a = np.random.rand(3)\nb = random.random()"),
        (M, "## Draw more"),
        (C, "c = np.random.rand(2)\nrows = pd.get_option('display.max_rows')"),
    ],
    # a helper reading a notebook global becomes a keyword-only parameter
    "function_globals": [
        (M, "## Define"),
        (C, "import pandas as pd\nTHRESH = 2\n\ndef above(s):\n    return s[s > THRESH]\n\n"
            "def count_above(s):\n    return len(above(s))"),
        (M, "## Use"),
        (C, "s = pd.Series([1, 2, 3, 4])\nn = count_above(s)\nm = s.apply(lambda v: v * THRESH)\n"
            "big = list(filter(lambda v: v > THRESH, s))\nvals = s.pipe(above)"),
    ],
    # a function redefined later: later steps use the new version
    "redefinition": [
        (M, "## First"),
        (C, "def feat(x):\n    return x + 1"),
        (C, "a = feat(1)"),
        (M, "## Second"),
        (C, "def feat(x):\n    return x * 100"),
        (C, "b = feat(1)"),
    ],
    # magics and shell: kept bodies, stripped scratch, pip requirements
    "magics": [
        (C, "%matplotlib inline\n%load_ext autoreload\n%autoreload 2\nimport math"),
        (C, "!pip install -q tabulate\n!ls -la"),
        (C, "%%time\nx = math.sqrt(16)\ny = x + 1"),
        (C, "%time z = y * 2"),
        (C, "math.sqrt?"),
        (C, "%%html\n<b>hi</b>"),
        (C, "w = z + 1"),
    ],
    # Kale-style tags: steps, prev, skip, imports, functions, metrics
    "tags": [
        (C, "import numpy as np", ["imports"]),
        (C, "def double(a):\n    return a * 2", ["functions"]),
        (C, "n = 5", ["pipeline-parameters"]),
        (C, "arr = np.arange(n)", ["step:make"]),
        (C, "arr2 = double(arr)", ["step:transform", "prev:make"]),
        (C, "print('scratch', arr2)", ["skip"]),
        (C, "total = int(arr2.sum())", ["step:summarize", "prev:transform"]),
        (C, "total", ["pipeline-metrics"]),
    ],
    # headings split, sections without code merge, display code stripped
    "headings": [
        (M, "# A title\nSome text about the notebook."),
        (C, "import pandas as pd\nimport matplotlib.pyplot as plt"),
        (M, "## Load the data"),
        (C, "df = pd.DataFrame({'v': [3, 1, 2]})\ndf.head()"),
        (C, "df.describe()"),
        (M, "## Notes\nJust words here."),
        (M, "## Plot and sort"),
        (C, "fig, ax = plt.subplots()\nax.plot(df.v)\nplt.show()"),
        (C, "df = df.sort_values('v')\ndisplay(df)"),
        (M, "## Plot only"),
        (C, "df.v.hist()"),
    ],
    # no tags, no headings: one step, with a diagnostic saying how to get more
    "no_structure": [
        (C, "import pandas as pd"),
        (C, "df = pd.DataFrame({'a': [1, 2]})"),
        (C, "df['b'] = df['a'] + 1\ndf"),
        (C, "out = df.b.tolist()"),
    ],
    # papermill parameters cell: parameters become keyword-only step parameters
    "parameters": [
        (C, "alpha = 0.5\nname = 'run'\nsizes = [1, 2]", ["parameters"]),
        (M, "## Compute"),
        (C, "scaled = [s * alpha for s in sizes]"),
        (M, "## Label"),
        (C, "label = f'{name}-{len(scaled)}'"),
    ],
    # a file written by one step and read by a later step orders them
    "file_flow": [
        (M, "## Write"),
        (C, "import json\nimport os\nos.makedirs('outputs', exist_ok=True)\n"
            "with open('outputs/golden_numbers.json', 'w') as fh:\n    json.dump([1, 2, 3], fh)"),
        (M, "## Read"),
        (C, "with open('outputs/golden_numbers.json') as fh:\n    numbers = json.load(fh)\n"
            "total = sum(numbers)"),
    ],
    # a class defined in a cell moves to the shared module
    "class_def": [
        (M, "## Model"),
        (C, "class Scaler:\n    def fit(self, xs):\n        self.m = max(xs)\n        return self\n"
            "    def transform(self, xs):\n        return [x / self.m for x in xs]"),
        (C, "sc = Scaler()"),
        (M, "## Fit"),
        (C, "sc.fit([1, 2, 4])"),
        (M, "## Apply"),
        (C, "scaled = sc.transform([2, 4])"),
    ],
    # a method reads a notebook variable: it sees the value at call time, in any step
    "class_globals": [
        (M, "## Setup"),
        (C, "factor = 3\n\nclass Multiplier:\n    def __init__(self):\n        self.calls = 0\n\n"
            "    def run(self, v):\n        self.calls += 1\n        return v * factor"),
        (M, "## Make"),
        (C, "m = Multiplier()\na = m.run(2)"),
        (M, "## Use"),
        (C, "seen = []\nfor factor in [7, 11]:\n    seen.append(m.run(1))\n"
            "factor = 5\nb = m.run(2)"),
    ],
}


def write_all(root: Path) -> None:
    import nbformat

    for name, cells in CASES.items():
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        for i, cell in enumerate(cells):
            kind, src = cell[0], cell[1]
            tags = cell[2] if len(cell) > 2 else []
            c = (nbformat.v4.new_code_cell(src) if kind == C
                 else nbformat.v4.new_markdown_cell(src))
            c["id"] = f"{name[:20]}-{i}"
            if tags:
                c.metadata["tags"] = list(tags)
            nb.cells.append(c)
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(d / "notebook.ipynb"))


if __name__ == "__main__":
    write_all(Path(__file__).parent)
