"""Knowledge tables: which calls display, plot, configure, draw randomness or touch files.

Qualified names are module paths as imported (``numpy.random.seed``), resolved through the
notebook's own import statements, so ``np.random.seed`` and ``from numpy.random import seed``
are the same call.
"""

from __future__ import annotations

import builtins

BUILTINS = frozenset(dir(builtins)) | {
    "display", "get_ipython", "In", "Out", "_", "__", "___", "_i", "_ii", "_iii", "exit",
    "quit", "__file__", "__name__", "__builtins__", "__doc__",
}

# Builtins that only read their arguments and return a new value.
PURE_BUILTINS = frozenset({
    "len", "type", "repr", "str", "sorted", "list", "dict", "set", "tuple", "sum", "min",
    "max", "abs", "round", "isinstance", "issubclass", "id", "dir", "help", "range", "zip",
    "enumerate", "any", "all", "hash", "format", "int", "float", "bool", "hex", "oct", "bin",
    "chr", "ord", "divmod", "pow", "callable", "hasattr", "getattr", "reversed", "frozenset",
    "map", "filter", "iter", "next", "slice", "complex", "bytes", "ascii",
})

# Modules whose calls draw or show things. A call rooted in one of them is visualization.
VIZ_MODULES = (
    "matplotlib", "seaborn", "plotly", "altair", "bokeh", "IPython.display", "missingno",
    "pandas.plotting", "yellowbrick", "plotnine", "holoviews", "hvplot", "wordcloud",
    "scikitplot", "graphviz", "ipywidgets", "tqdm.notebook", "folium", "pydot", "IPython.core.display",
    "sklearn.tree.plot_tree", "sklearn.metrics.ConfusionMatrixDisplay",
    "sklearn.metrics.RocCurveDisplay", "sklearn.metrics.PrecisionRecallDisplay",
    "sklearn.inspection.PartialDependenceDisplay", "shap.plots", "shap.summary_plot",
    "xgboost.plot_importance", "lightgbm.plot_importance", "statsmodels.graphics",
)

# Methods that only display or plot (whatever object they are called on).
VIZ_METHODS = frozenset({
    "plot", "hist", "boxplot", "show", "imshow", "scatter", "bar", "barh", "pie",
    "plot_tree", "hexbin", "kde", "density", "area", "line", "profile_report", "to_html",
    "display", "_repr_html_", "style", "render", "set_title", "set_xlabel", "set_ylabel",
    "legend", "tight_layout", "savefig_noop", "set_xticklabels", "set_yticklabels",
    "set_xlim", "set_ylim", "axhline", "axvline", "annotate", "text", "grid", "colorbar",
    "suptitle", "subplots_adjust", "set_size_inches", "heatmap", "from_estimator",
    "from_predictions",
})

# Matplotlib-style methods that save a figure to a file: a kept output.
SAVE_METHODS = frozenset({"savefig", "write_image", "write_html", "save"})

# ---- figure state (nb2pipe/analysis/figures.py) ----------------------------------------------
# A value read back from a figure (`plt.ylim()`, `ax.get_xlim()`, `ax.get_legend_handles_labels()`)
# depends on the plotting before it, so kept code that reads one keeps that plotting too.
# Calls that start a new current figure (pyplot's implicit state) and return its objects.
FIGURE_CREATORS = frozenset({
    "matplotlib.pyplot.figure", "matplotlib.pyplot.subplots", "matplotlib.pyplot.subplot_mosaic",
    "seaborn.FacetGrid", "seaborn.PairGrid", "seaborn.JointGrid", "seaborn.pairplot",
    "seaborn.jointplot", "seaborn.catplot", "seaborn.relplot", "seaborn.displot",
    "seaborn.lmplot", "seaborn.clustermap",
})
# Modules whose functions draw on (or read) the current figure unless given `ax=`.
CURRENT_FIGURE_MODULES = ("matplotlib.pyplot", "seaborn", "pandas.plotting", "missingno",
                          "statsmodels.graphics", "scikitplot", "shap", "wordcloud")
# Calls in those modules that neither draw nor read a figure (data, styles, colour maps).
FIGURE_NEUTRAL = frozenset({
    "seaborn.load_dataset", "seaborn.get_dataset_names", "seaborn.color_palette",
    "seaborn.set", "seaborn.set_theme", "seaborn.set_style", "seaborn.set_context",
    "seaborn.set_palette", "seaborn.axes_style", "seaborn.plotting_context",
    "matplotlib.pyplot.style", "matplotlib.pyplot.rc", "matplotlib.pyplot.rcParams",
    "matplotlib.pyplot.rc_context", "matplotlib.pyplot.cm", "matplotlib.pyplot.get_cmap",
    "matplotlib.pyplot.colormaps", "matplotlib.pyplot.ion", "matplotlib.pyplot.ioff",
    "matplotlib.pyplot.switch_backend", "matplotlib.pyplot.xkcd",
})
# Calls that end the current figure: pyplot's `show` (the inline backend closes the figure
# it shows) and `close`; the kernel also closes every figure when a cell ends.
FIGURE_ENDERS = frozenset({"matplotlib.pyplot.show", "matplotlib.pyplot.close"})
# Methods that only show a figure: never needed to compute a value, so never kept for one.
SHOW_METHODS = frozenset({"show", "display", "_repr_html_"})

# Methods that never change the object they are called on (common pandas / numpy / sklearn).
# Anything else called on a name counts as a possible mutation of that name: a false
# "mutation" only costs an extra data edge, a missed one computes the wrong thing.
PURE_METHODS = frozenset({
    # pandas / numpy reading and transforming into new objects
    "head", "tail", "describe", "info", "copy", "groupby", "agg", "aggregate", "apply",
    "applymap", "map", "merge", "join", "concat", "sum", "mean", "median", "std", "var",
    "min", "max", "count", "nunique", "unique", "value_counts", "isna", "isnull", "notna",
    "notnull", "any", "all", "corr", "cov", "astype", "to_numpy", "to_list", "tolist",
    "to_dict", "values", "keys", "items", "get", "loc", "iloc", "query", "filter", "select_dtypes",
    "drop", "dropna", "fillna", "replace", "rename", "reset_index", "set_index", "sort_values",
    "sort_index", "round", "abs", "clip", "cumsum", "cumprod", "diff", "pct_change", "shift",
    "rolling", "expanding", "ewm", "resample", "pivot", "pivot_table", "melt", "stack",
    "unstack", "transpose", "explode", "duplicated", "drop_duplicates", "isin", "between",
    "where", "mask", "nlargest", "nsmallest", "idxmax", "idxmin", "argmax", "argmin",
    "quantile", "rank", "cut", "qcut", "reindex", "assign", "pipe", "sample", "memory_usage",
    "equals", "dot", "reshape", "ravel", "flatten", "squeeze", "prod", "mode", "skew", "kurt",
    "first", "last", "nth", "size", "transform", "predict", "predict_proba",
    "predict_log_proba", "decision_function", "score", "score_samples", "get_params",
    "get_feature_names_out", "inverse_transform", "kneighbors", "format", "join", "split",
    "strip", "lower", "upper", "startswith", "endswith", "title", "capitalize", "encode",
    "decode", "find", "index", "count", "str", "dt", "cat", "to_frame", "to_series",
    "to_datetime", "to_numeric", "isnumeric", "isdigit", "len", "contains", "extract",
    "get_dummies", "interpolate", "ffill", "bfill", "combine_first", "align", "T", "add",
    "sub", "mul", "div", "truediv", "floordiv", "mod", "pow", "eq", "ne", "lt", "gt", "le",
    "ge", "isclose", "nonzero", "searchsorted", "take", "compress", "repeat", "tobytes",
    "as_matrix", "get_group", "describe_option", "infer_objects", "convert_dtypes", "xs",
    "at_time", "between_time", "asfreq", "tz_localize", "tz_convert", "floor", "ceil",
    "normalize", "strftime", "to_period", "to_timestamp", "add_prefix", "add_suffix",
    "nsmallest", "select", "cumcount", "ngroup", "issubset", "issuperset", "union",
    "intersection", "difference", "symmetric_difference", "most_common", "hexdigest",
    "digest", "isoformat", "total_seconds", "weekday", "date", "time", "read",
    "readlines", "readline", "exists", "is_file", "is_dir", "glob", "rglob", "iterdir",
    "resolve", "with_suffix", "with_name", "relative_to", "joinpath", "partition",
    "rpartition", "rstrip", "lstrip", "zfill", "ljust", "rjust", "center", "splitlines",
    "swapcase", "casefold", "isalpha", "isalnum", "isspace", "islower", "isupper",
    "rsplit", "rfind", "rindex", "format_map", "translate", "maketrans", "expandtabs",
    "conjugate", "bit_length", "is_integer", "as_integer_ratio", "fromkeys",
    "iterrows", "itertuples", "iteritems", "to_string", "to_markdown", "to_latex",
    "nbytes", "ndim", "shape", "dtype", "dtypes", "columns", "index",
})

# Beyond PURE_METHODS, for deciding whether a call changes the object it is called on (not
# whether a bare call is display): exporters, accessors and statistics-results readers.
NON_MUTATING_METHODS = frozenset({
    "to_csv", "to_parquet", "to_excel", "to_json", "to_pickle", "to_feather", "to_hdf",
    "to_sql", "to_stata", "to_orc", "to_xml", "to_clipboard", "summary", "summary2",
    "conf_int", "cov_params", "get_prediction", "forecast", "t_test", "f_test", "wald_test",
    "pvalues", "tvalues", "bse", "params", "fittedvalues", "resid", "aic", "bic",
    "ppf", "pdf", "cdf", "logpdf", "logcdf", "sf", "isf", "entropy", "moment", "interval",
    "support", "stats",
})
NON_MUTATING_PREFIXES = ("to_", "get_", "is_", "has_", "as_", "iter", "count_", "compute_")
# In-place dunder methods; other dunders (`__len__`, `__getitem__`, ...) only read.
MUTATING_DUNDERS = frozenset({
    "__setitem__", "__delitem__", "__setattr__", "__delattr__", "__iadd__", "__isub__",
    "__imul__", "__itruediv__", "__ifloordiv__", "__imod__", "__ipow__", "__iand__",
    "__ior__", "__ixor__", "__ilshift__", "__irshift__", "__imatmul__", "__init__",
    "__setstate__", "__enter__", "__exit__", "__next__", "__call__",
})


def may_mutate_receiver(method: str, inplace: bool) -> bool:
    """Whether `obj.method(...)` may change `obj`. Unknown methods count as changing it: a
    false "mutation" costs an extra data edge, a missed one computes the wrong thing."""
    if inplace:
        return True
    if method.startswith("__") and method.endswith("__"):
        return method in MUTATING_DUNDERS
    return not (method in PURE_METHODS or method in NON_MUTATING_METHODS
                or method.startswith(NON_MUTATING_PREFIXES))


# Methods that write to a file whose path is their first argument.
WRITE_METHODS = frozenset({
    "to_csv", "to_parquet", "to_excel", "to_json", "to_pickle", "to_feather", "to_hdf",
    "to_sql", "to_stata", "to_orc", "savefig", "write_image", "write_html", "save_model",
    "save", "to_netcdf",
})

# Functions that read a file whose path is their first argument (qualified-name suffixes).
READ_FUNCS = frozenset({
    "pandas.read_csv", "pandas.read_parquet", "pandas.read_excel", "pandas.read_json",
    "pandas.read_pickle", "pandas.read_feather", "pandas.read_table", "pandas.read_hdf",
    "pandas.read_orc", "pandas.read_stata", "pandas.read_sas", "pandas.read_spss",
    "pandas.read_fwf", "pandas.read_xml", "numpy.load", "numpy.loadtxt", "numpy.genfromtxt",
    "numpy.fromfile", "joblib.load", "pickle.load", "json.load", "torch.load",
    "scipy.io.loadmat", "PIL.Image.open", "cv2.imread", "yaml.safe_load",
    "polars.read_csv", "polars.read_parquet", "xarray.open_dataset", "h5py.File",
})
# Functions that write a file; value is the index of the path argument.
WRITE_FUNCS = {
    "numpy.save": 0, "numpy.savetxt": 0, "numpy.savez": 0, "numpy.savez_compressed": 0,
    "joblib.dump": 1, "pickle.dump": 1, "json.dump": 1, "torch.save": 1,
    "matplotlib.pyplot.savefig": 0, "scipy.io.savemat": 0, "cv2.imwrite": 0,
}
# Keyword names the path of a WRITE_METHODS call may be given by (`df.to_csv(path_or_buf=p)`).
WRITE_PATH_KEYWORDS = ("path_or_buf", "path", "fname", "excel_writer", "filepath", "file")

# Other calls that touch the file system: qualified name -> ((mode, index of the path
# argument), ...). Modes: "stat" looks at a path without reading its content (a later step in
# another pod still needs the file there), "mkdir" creates a folder, "delete" removes a path,
# "read" and "write" as above. They order steps (planning/file_edges.py); only "write" files
# are exported from a step's pod, only "read" files are the pipeline's input data.
FS_FUNCS: dict[str, tuple[tuple[str, int], ...]] = {
    **{f"os.path.{f}": (("stat", 0),) for f in (
        "exists", "lexists", "isfile", "isdir", "islink", "getsize", "getmtime", "getctime",
        "getatime", "samefile")},
    "os.stat": (("stat", 0),), "os.lstat": (("stat", 0),), "os.listdir": (("stat", 0),),
    "os.scandir": (("stat", 0),), "os.walk": (("stat", 0),), "os.access": (("stat", 0),),
    "glob.glob": (("stat", 0),), "glob.iglob": (("stat", 0),),
    "os.makedirs": (("mkdir", 0),), "os.mkdir": (("mkdir", 0),),
    "os.remove": (("delete", 0),), "os.unlink": (("delete", 0),), "os.rmdir": (("delete", 0),),
    "os.removedirs": (("delete", 0),), "shutil.rmtree": (("delete", 0),),
    "os.rename": (("delete", 0), ("write", 1)), "os.replace": (("delete", 0), ("write", 1)),
    "shutil.move": (("delete", 0), ("write", 1)),
    "shutil.copy": (("read", 0), ("write", 1)), "shutil.copy2": (("read", 0), ("write", 1)),
    "shutil.copyfile": (("read", 0), ("write", 1)), "shutil.copytree": (("read", 0), ("write", 1)),
    "shutil.unpack_archive": (("read", 0), ("write", 1)),
}
# Any other call into these modules touches the file system at a path nb2pipe does not know
# (`shutil.make_archive`, `tempfile.mkdtemp`): it orders steps like a computed path.
FS_MODULES = ("shutil", "tempfile")

# Methods of a path object (`Path("out").mkdir()`, `p.read_text()`): the receiver is the path.
PATH_METHODS = {
    "exists": "stat", "is_file": "stat", "is_dir": "stat", "stat": "stat", "iterdir": "stat",
    "glob": "stat", "rglob": "stat", "read_text": "read", "read_bytes": "read",
    "write_text": "write", "write_bytes": "write", "touch": "write", "mkdir": "mkdir",
    "unlink": "delete", "rmdir": "delete",
}

# Calls that configure the process: they are setup state, replayed in every later step.
SETUP_CALLS = frozenset({
    "numpy.random.seed", "random.seed", "torch.manual_seed", "torch.cuda.manual_seed",
    "torch.cuda.manual_seed_all", "tensorflow.random.set_seed", "tensorflow.set_random_seed",
    "pandas.set_option", "pandas.options.mode", "warnings.filterwarnings",
    "warnings.simplefilter", "warnings.resetwarnings", "numpy.set_printoptions",
    "numpy.seterr", "sklearn.set_config", "matplotlib.use", "matplotlib.rc",
    "matplotlib.pyplot.rc", "matplotlib.pyplot.style.use", "matplotlib.style.use",
    "matplotlib.rcParams.update", "matplotlib.pyplot.rcParams.update", "seaborn.set",
    "seaborn.set_theme", "seaborn.set_style", "seaborn.set_context", "seaborn.set_palette",
    "sys.path.append", "sys.path.insert", "sys.path.extend", "os.environ.update",
    "os.environ.setdefault", "os.chdir", "logging.basicConfig", "torch.set_default_dtype",
    "torch.set_num_threads", "torch.use_deterministic_algorithms", "tensorflow.config",
    "transformers.set_seed", "lightning.seed_everything", "pytorch_lightning.seed_everything",
    "set_seed", "seed_everything", "pandas.options.display", "plotly.io.templates",
    "os.putenv", "locale.setlocale", "numpy.random.set_state", "random.setstate",
    "torch.set_rng_state", "pandas.reset_option",
})
# Assignment targets rooted here are setup (``plt.rcParams["x"] = 1``, ``pd.options.a = b``).
SETUP_TARGETS = (
    "matplotlib.rcParams", "matplotlib.pyplot.rcParams", "pandas.options", "os.environ",
    "sys.path", "plotly.io.templates",
)

# Seeding the global random state: when a notebook does this, global RNG state becomes part of
# the data flow so every step draws exactly the numbers the notebook drew.
SEED_CALLS = frozenset({
    "numpy.random.seed", "random.seed", "torch.manual_seed", "tensorflow.random.set_seed",
    "numpy.random.set_state", "random.setstate", "transformers.set_seed",
    "lightning.seed_everything", "pytorch_lightning.seed_everything",
})
RNG_MODULES = ("numpy.random", "random", "torch")
RNG_NOT_DRAWING = frozenset({
    "seed", "get_state", "set_state", "default_rng", "RandomState", "Generator",
    "SeedSequence", "PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64", "BitGenerator",
    "getstate", "setstate", "Random", "SystemRandom", "manual_seed",
})
TORCH_DRAWING = frozenset({"rand", "randn", "randint", "randperm", "normal", "bernoulli",
                           "multinomial", "rand_like", "randn_like", "randint_like", "poisson"})
# Calls that draw from the global numpy RNG unless given random_state=...
RANDOM_STATE_APIS = frozenset({
    "fit", "fit_transform", "fit_predict", "fit_resample", "partial_fit", "sample",
    "train_test_split", "cross_val_score", "cross_validate", "cross_val_predict", "shuffle",
    "resample", "permutation_importance", "learning_curve", "validation_curve", "make_classification",
    "make_regression", "make_blobs", "make_moons", "make_circles", "GridSearchCV",
    "RandomizedSearchCV", "KFold", "StratifiedKFold", "ShuffleSplit", "StratifiedShuffleSplit",
    "GroupShuffleSplit", "RepeatedKFold",
})
# Classes whose constructor without random_state draws from the global RNG when fitted.
# (The fit call is what draws; constructors are listed for readers of this table.)

# Functions that mutate one of their arguments: qualified name -> argument index.
ARG_MUTATORS = {
    "numpy.random.shuffle": 0, "random.shuffle": 0, "numpy.copyto": 0,
    "numpy.fill_diagonal": 0, "numpy.put": 0, "numpy.place": 0, "numpy.putmask": 0,
    "numpy.random.Generator.shuffle": 0, "heapq.heappush": 0, "heapq.heappop": 0,
    "heapq.heapify": 0, "bisect.insort": 0, "sklearn.utils.shuffle": -1,
}

# Attributes that are new or immutable objects, never a view into the object they are read
# from: `cols = list(df.columns)` does not share anything with `df`.
FRESH_ATTRIBUTES = frozenset({
    "columns", "index", "dtypes", "dtype", "shape", "size", "ndim", "name", "names",
    "nbytes", "empty", "hasnans", "is_unique", "is_monotonic_increasing",
    "is_monotonic_decreasing", "axes", "keys", "classes_", "feature_names_in_",
    "n_features_in_", "real", "imag", "days", "seconds", "year", "month", "day", "hour",
    "minute", "second", "weekday", "dayofweek", "dayofyear", "quarter",
})
# Pandas functions whose result is a new frame/series (qualified-name prefixes): iterating
# such a value yields labels, not parts of another object.
FRAME_MAKERS = ("pandas.",)

# Builtins that build a new container from the items of their iterable arguments: the result
# shares the items (`list(models)` holds the same estimators), not the iterable itself.
ITEM_COLLECTORS = frozenset({
    "list", "tuple", "set", "frozenset", "sorted", "reversed", "iter", "enumerate", "zip",
    "filter", "map", "dict",
})
# Methods on a frame-like value whose result may be a view of it or hold its objects:
# iterating them is not iterating labels.
FRAME_VIEW_METHODS = frozenset({"values", "to_numpy", "items", "iteritems", "array"})

# Callees whose result holds references to their (name) arguments.
CONTAINER_BUILDERS = frozenset({
    "list", "tuple", "dict", "set", "frozenset", "zip", "enumerate", "reversed", "sorted",
    "iter", "make_pipeline", "make_union", "make_column_transformer", "filter", "map",
})

# Line magics that are pure display/scratch, removed silently.
SCRATCH_MAGICS = frozenset({
    "matplotlib", "config", "load_ext", "reload_ext", "autoreload", "aimport", "pinfo",
    "pinfo2", "psearch", "pdoc", "pdef", "psource", "pfile", "who", "whos", "who_ls",
    "timeit", "history", "hist", "lsmagic", "magic", "pwd", "ls", "pprint", "precision",
    "xmode", "pdb", "debug", "tb", "notebook", "qtconsole", "connect_info", "page", "recall",
    "rerun", "save", "alias", "unalias", "alias_magic", "automagic", "autocall",
    "colors", "doctest_mode", "gui", "killbgscripts", "logstart", "logstop", "logon",
    "logoff", "logstate", "pycat", "quickref", "reset", "reset_selective", "xdel",
    "dhist", "dirs", "popd", "pushd", "bookmark", "sx", "system", "sc", "unload_ext",
    "watermark", "memit", "mprun", "lprun", "prun", "snakeviz", "tensorboard", "sql_config",
    "clear", "cls", "less", "more", "man", "mamba", "conda",
})
# Line magics whose effects would be lost: removed with NB110.
EFFECT_MAGICS = frozenset({"cd", "run", "store", "env", "load", "set_env", "sql", "bash",
                           "sh", "writefile", "R", "macro", "edit"})
# Magics whose argument is Python code run once in the user namespace: the code is kept.
KEEP_BODY_MAGICS = frozenset({"time", "capture"})
# Cell magics that run their body once, as Python, in the notebook's namespace, and only add
# a report (timings, a profile, memory use, captured output): the body is kept as code, since
# what it binds is the notebook's state (`%%prun` then `model` read in the next cell).
KEEP_BODY_CELL_MAGICS = frozenset({"time", "capture", "prun", "memit", "mprun", "lprun",
                                   "debug"})
# Cell magics that only display: removed with an info diagnostic. (`%%timeit` runs its body
# inside a function many times: nothing it binds reaches the notebook.)
DISPLAY_CELL_MAGICS = frozenset({"html", "HTML", "javascript", "js", "latex", "markdown",
                                 "svg", "timeit"})


def matches(qualname: str, table) -> bool:
    """True if qualname or any of its dotted prefixes is in table."""
    if not qualname:
        return False
    parts = qualname.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in table:
            return True
    return False


def in_modules(qualname: str, modules) -> bool:
    return any(qualname == m or qualname.startswith(m + ".") for m in modules)

# ---- recomputing values built from a secret (nb2pipe/planning/recompute.py) ------------------
# A value built from a secret is never stored: each step that reads it runs the statements that
# build it again. Only statements whose calls are all in these tables are run again; anything
# else (a network call, a client that connects, a file read) is refused with NB222, as running
# it twice could be slow, cost money or give another result.
RECOMPUTE_BUILTINS = frozenset({
    "str", "bytes", "bytearray", "int", "float", "bool", "len", "repr", "format", "dict",
    "list", "tuple", "set", "frozenset", "sorted", "reversed", "min", "max", "sum", "abs",
    "round", "ord", "chr", "hex", "zip", "enumerate", "range", "map", "filter", "any", "all",
    "isinstance", "getattr", "hasattr", "__import__",
})
RECOMPUTE_CALLS = frozenset({  # qualified names or module prefixes
    "os.environ", "os.getenv", "base64", "binascii", "urllib.parse", "hashlib", "hmac",
    "json.dumps", "json.loads", "string", "textwrap", "re", "secrets.compare_digest",
    "requests.auth.HTTPBasicAuth", "requests.auth.HTTPDigestAuth", "requests.auth.HTTPProxyAuth",
    "httpx.BasicAuth", "aiohttp.BasicAuth", "collections.OrderedDict",
})
RECOMPUTE_METHODS = frozenset({  # on a value: strings, bytes, dicts, lists, hashes
    "format", "format_map", "encode", "decode", "strip", "lstrip", "rstrip", "lower", "upper",
    "replace", "join", "split", "rsplit", "startswith", "endswith", "removeprefix",
    "removesuffix", "zfill", "title", "capitalize", "partition", "rpartition", "get",
    "copy", "items", "keys", "values", "update", "setdefault", "append", "extend",
    "hexdigest", "digest",
})

# ---- phases a reader recognises, for step discovery (nb2pipe/planning/discover.py) ------------
# The last name of a call -> the phase of the notebook it marks. A cell's phase is the phase
# most of its calls mark; discovery prefers step boundaries where the phase changes.
PHASE_ORDER = ("load", "clean", "features", "fit", "evaluate", "write")
PHASE_CALLS = {
    **dict.fromkeys((
        "read_csv", "read_excel", "read_parquet", "read_json", "read_table", "read_sql",
        "read_sql_query", "read_feather", "read_pickle", "read_hdf", "read_fwf", "read_stata",
        "read_sas", "read_spss", "read_orc", "read_xml", "read_html", "read_clipboard",
        "loadtxt", "genfromtxt", "load_dataset", "load_iris", "load_digits", "load_wine",
        "load_breast_cancer", "load_diabetes", "load_boston", "load_linnerud",
        "fetch_openml", "fetch_california_housing", "fetch_20newsgroups", "ExcelFile",
        "get_rdataset", "load_pandas", "DataReader", "get_data"), "load"),
    **dict.fromkeys((
        "dropna", "fillna", "drop_duplicates", "replace", "astype", "rename", "drop",
        "to_datetime", "to_numeric", "interpolate", "ffill", "bfill", "strip", "clip",
        "SimpleImputer", "IterativeImputer", "KNNImputer", "isnull", "isna", "notnull",
        "duplicated", "set_index", "reset_index", "sort_values", "convert_dtypes",
        "infer_objects", "str", "lower", "upper"), "clean"),
    **dict.fromkeys((
        "get_dummies", "fit_transform", "transform", "StandardScaler", "MinMaxScaler",
        "RobustScaler", "MaxAbsScaler", "Normalizer", "OneHotEncoder", "LabelEncoder",
        "OrdinalEncoder", "PolynomialFeatures", "ColumnTransformer", "make_column_transformer",
        "FunctionTransformer", "KBinsDiscretizer", "PowerTransformer", "QuantileTransformer",
        "train_test_split", "cut", "qcut", "shift", "rolling", "add_constant", "PCA",
        "SelectKBest", "VarianceThreshold", "dmatrices", "dmatrix", "diff", "pct_change"),
        "features"),
    **dict.fromkeys((
        "fit", "fit_predict", "partial_fit", "GridSearchCV", "RandomizedSearchCV", "ols",
        "logit", "probit", "glm", "OLS", "WLS", "GLS", "GLM", "Logit", "Probit", "RLM",
        "ARIMA", "SARIMAX", "ExponentialSmoothing", "make_pipeline", "Pipeline", "mnlogit",
        "poisson", "MNLogit", "Poisson", "NegativeBinomial", "AutoReg", "VAR"), "fit"),
    **dict.fromkeys((
        "predict", "predict_proba", "decision_function", "score", "cross_val_score",
        "cross_validate", "cross_val_predict", "accuracy_score", "precision_score",
        "recall_score", "f1_score", "roc_auc_score", "roc_curve", "mean_squared_error",
        "mean_absolute_error", "r2_score", "confusion_matrix", "classification_report",
        "log_loss", "summary", "summary2", "conf_int", "forecast", "get_prediction",
        "get_forecast", "t_test", "f_test", "wald_test", "precision_recall_curve",
        "mean_absolute_percentage_error", "silhouette_score", "balanced_accuracy_score",
        "permutation_importance", "learning_curve", "validation_curve", "adfuller",
        "acorr_ljungbox", "plot_diagnostics", "anova_lm", "compare_lr_test"), "evaluate"),
    **dict.fromkeys((
        "to_csv", "to_parquet", "to_excel", "to_json", "to_pickle", "to_feather", "to_hdf",
        "to_sql", "dump", "savefig", "save_model", "ExcelWriter"), "write"),
}
# Model classes are many; their names end in one of these (`RandomForestClassifier`, `SVC`,
# `KMeans`, `LinearRegression`, ...). Constructing or fitting one is the "fit" phase.
ESTIMATOR_SUFFIXES = ("Classifier", "Regressor", "Regression", "SVC", "SVR", "KMeans", "Means",
                      "Clustering", "NB", "Forest", "Boost", "Model", "Lasso", "Ridge",
                      "ElasticNet", "DBSCAN", "Mixture", "Tree")


def estimator_phase(call: str) -> str:
    """'fit' for a call that constructs a model class, else ''."""
    if call[:1].isupper() and call.endswith(ESTIMATOR_SUFFIXES) and call not in PHASE_CALLS:
        return "fit"
    return ""

# ---- dead scratch (nb2pipe/analysis/dead_scratch.py) -------------------------------------------
# Calls with no effect but their result: a statement made only of these whose value is
# overwritten before anything reads it is stripped. Qualified names or module prefixes.
DEAD_SCRATCH_CALLS = frozenset({
    "numpy", "pandas", "scipy.stats", "scipy.special", "math", "statistics", "operator",
    "sklearn.metrics", "sklearn.model_selection.cross_val_score",
    "sklearn.model_selection.cross_validate", "sklearn.model_selection.cross_val_predict",
    "sklearn.model_selection.train_test_split", "sklearn.pipeline.make_pipeline",
    "sklearn.compose.make_column_transformer", "statsmodels.formula.api",
})
# ... except these parts of those modules: I/O, global random state, in-place helpers, options.
DEAD_SCRATCH_NOT_PURE = (
    "numpy.random", "numpy.save", "numpy.savez", "numpy.savez_compressed", "numpy.savetxt",
    "numpy.load", "numpy.loadtxt", "numpy.genfromtxt", "numpy.fromfile", "numpy.memmap",
    "numpy.seterr", "numpy.set_printoptions", "pandas.set_option", "pandas.reset_option",
    "pandas.option_context", "pandas.read_csv", "pandas.read_excel", "pandas.read_parquet",
    "pandas.read_json", "pandas.read_sql", "pandas.read_table", "pandas.read_pickle",
    "pandas.read_hdf", "pandas.read_feather", "pandas.read_html", "pandas.ExcelWriter",
    "pandas.HDFStore", "pandas.plotting", "pandas.io",
)
# Model libraries whose classes only store their parameters when constructed.
DEAD_SCRATCH_CLASS_LIBRARIES = frozenset({"sklearn", "xgboost", "lightgbm", "catboost"})
# Methods on a value that change nothing and read no file (PURE_METHODS without those that
# call user code, read a stream or draw random numbers).
DEAD_SCRATCH_METHODS = (PURE_METHODS | frozenset({
    "summary", "conf_int", "predict", "score", "get_prediction", "forecast"})) - frozenset({
    "apply", "applymap", "map", "pipe", "transform", "agg", "aggregate", "sample", "read",
    "readline", "readlines", "iterrows", "itertuples", "iteritems", "items", "glob", "rglob",
    "iterdir", "resolve", "exists", "is_file", "is_dir", "filter", "query"})
# Cross-validation draws from the global generator only through the estimator or a splitter.
CROSS_VALIDATION = frozenset({"cross_val_score", "cross_validate", "cross_val_predict"})
# Estimator classes whose fit draws no random numbers (unless a RANDOM_SETTINGS pair is given).
DETERMINISTIC_ESTIMATORS = frozenset({
    "LinearRegression", "Ridge", "RidgeClassifier", "Lasso", "ElasticNet", "LogisticRegression",
    "SVC", "SVR", "NuSVC", "NuSVR", "KNeighborsClassifier", "KNeighborsRegressor",
    "RadiusNeighborsClassifier", "GaussianNB", "MultinomialNB", "BernoulliNB", "ComplementNB",
    "LinearDiscriminantAnalysis", "QuadraticDiscriminantAnalysis", "NearestCentroid",
    "StandardScaler", "MinMaxScaler", "RobustScaler", "MaxAbsScaler", "Normalizer",
    "OneHotEncoder", "OrdinalEncoder", "PolynomialFeatures", "SimpleImputer",
    "FunctionTransformer", "ColumnTransformer", "Pipeline", "make_pipeline",
    "make_column_transformer", "PowerTransformer", "KBinsDiscretizer", "VarianceThreshold",
})
RANDOM_SETTINGS = frozenset({("probability", True), ("solver", "sag"), ("solver", "saga"),
                             ("solver", "liblinear"), ("selection", "random"),
                             ("strategy", "kmeans")})
# Ensembles that set the random_state of the estimators they hold from their own.
SEEDING_ENSEMBLES = frozenset({"BaggingClassifier", "BaggingRegressor", "AdaBoostClassifier",
                               "AdaBoostRegressor"})
