"""Regenerate the sample notebooks (and their bundled data) used as nb2pipe test inputs.

Usage (from any directory)::

    python sample_notebooks/make_samples.py          # write data/*.csv and the five .ipynb files
    python sample_notebooks/make_samples.py --run    # ... then execute every notebook twice
                                                     #     and check the key variables match

Everything is deterministic: the data comes from seeded ``numpy.random.RandomState``
generators (whose streams are frozen across numpy versions) and every notebook cell
gets a fixed id, so running this script twice produces byte-identical files.

The notebooks are written WITHOUT outputs.  They read their data through paths
relative to this folder (``data/...``) and only ever write into ``outputs/``
(git-ignored), so they must be executed with this folder as the working directory.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")

# Variables whose final values characterise a run of each notebook (also listed in README.md).
KEY_VARS = {
    "churn": ["accuracy", "auc", "model", "df"],
    "house_prices": ["r2", "mae", "rmse", "scores", "best_name", "lst"],
    "forecast": ["mape", "mape_es", "coverage", "forecast"],
    "segmentation": ["silhouette", "inertia", "profile", "km"],
    "reviews_tagged": ["accuracy", "f1", "lst", "model"],
}


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------

def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def make_customers(n=2000, seed=42):
    """Telco-style customers with missing values, categoricals, glitches and outliers."""
    rs = np.random.RandomState(seed)
    contract = rs.choice(["month-to-month", "one-year", "two-year"], size=n, p=[0.55, 0.25, 0.20])
    tenure = np.where(
        contract == "month-to-month",
        rs.randint(0, 40, size=n),
        np.where(contract == "one-year", rs.randint(6, 60, size=n), rs.randint(12, 73, size=n)),
    )
    glitch = rs.rand(n) < 0.01  # a few negative tenures from a broken export
    tenure = np.where(glitch, -1, tenure)
    internet = rs.choice(["fiber", "dsl", "none"], size=n, p=[0.45, 0.35, 0.20])
    payment = rs.choice(["card", "bank_transfer", "electronic_check", "mailed_check"], size=n,
                        p=[0.3, 0.25, 0.3, 0.15])
    monthly = (20 + np.where(internet == "fiber", 50, np.where(internet == "dsl", 25, 0))
               + rs.normal(0, 10, size=n)).clip(15, None)
    outlier = rs.rand(n) < 0.01
    monthly = np.where(outlier, monthly * 5, monthly)
    total = monthly * np.clip(tenure, 0, None) * (1 + rs.normal(0, 0.05, size=n))
    support_calls = rs.poisson(1.2 + 0.8 * (internet == "fiber"), size=n)
    age = rs.randint(18, 80, size=n).astype(float)
    logit = (-1.2 + 1.6 * (contract == "month-to-month") - 0.9 * (contract == "two-year")
             - 0.045 * np.clip(tenure, 0, None) + 0.025 * (np.clip(monthly, 0, 150) - 65)
             + 0.4 * support_calls + 0.6 * (payment == "electronic_check")
             - 0.01 * (age - 45) + rs.normal(0, 0.5, size=n))
    churn = (rs.rand(n) < _sigmoid(logit)).astype(int)

    df = pd.DataFrame({
        "customer_id": ["C%05d" % i for i in range(1, n + 1)],
        "gender": rs.choice(["Female", "Male"], size=n),
        "age": age,
        "region": rs.choice(["north", "south", "east", "west"], size=n, p=[0.3, 0.3, 0.2, 0.2]),
        "contract": contract,
        "internet_service": internet,
        "payment_method": payment,
        "tenure_months": tenure,
        "monthly_charges": np.round(monthly, 2),
        "total_charges": np.round(total, 2),
        "support_calls": support_calls,
        "churn": churn,
    })
    df["region"] = df["region"].astype(object)
    df.loc[rs.rand(n) < 0.06, "age"] = np.nan
    df.loc[rs.rand(n) < 0.04, "region"] = np.nan
    df.loc[rs.rand(n) < 0.02, "monthly_charges"] = np.nan
    df.loc[rs.rand(n) < 0.03, "total_charges"] = np.nan
    return df


def make_houses(n=1500, seed=7):
    rs = np.random.RandomState(seed)
    hood = rs.choice(["downtown", "suburb", "riverside", "hills", "industrial"], size=n,
                     p=[0.2, 0.35, 0.15, 0.15, 0.15])
    sqft = rs.normal(1800, 600, size=n).clip(500, 6000).round()
    rooms = np.maximum(2, (2 + sqft / 450 + rs.randint(-1, 2, size=n))).astype(int)
    bedrooms = np.maximum(1, rooms - rs.randint(1, 3, size=n))
    bathrooms = 1 + rs.randint(0, 5, size=n) * 0.5
    year = rs.randint(1920, 2023, size=n)
    lot = np.round(rs.lognormal(8.5, 0.5, size=n))
    garage = rs.choice([0, 1, 2, 3], size=n, p=[0.2, 0.4, 0.3, 0.1]).astype(float)
    condition = rs.randint(1, 6, size=n)
    # price per sqft depends on the neighborhood and old houses only sell well in good condition
    ppsf = {"downtown": 190, "suburb": 120, "riverside": 150, "hills": 230, "industrial": 70}
    age = 2024 - year
    price = (40000 + sqft * np.array([ppsf[h] for h in hood]) + 9000 * bathrooms
             - 600 * age * (condition <= 2) + 14000 * garage + 1.5 * lot + 6000 * condition ** 1.5)
    price = price * rs.lognormal(0, 0.12, size=n)
    df = pd.DataFrame({
        "house_id": np.arange(1, n + 1),
        "neighborhood": hood,
        "sqft": sqft.astype(int),
        "rooms": rooms,
        "bedrooms": bedrooms,
        "bathrooms": bathrooms,
        "year_built": year,
        "lot_size": lot,
        "garage_spaces": garage,
        "condition": condition,
        "price": (np.round(price / 100) * 100).astype(int),
    })
    df.loc[rs.rand(n) < 0.05, "lot_size"] = np.nan
    df.loc[rs.rand(n) < 0.08, "garage_spaces"] = np.nan
    return df


def make_sales(seed=5):
    rs = np.random.RandomState(seed)
    dates = pd.date_range("2022-01-01", "2023-12-31", freq="D")
    n = len(dates)
    t = np.arange(n)
    weekly = np.array([-15, -10, -5, 0, 10, 35, 25])[dates.day_of_week]
    yearly = 20 * np.sin(2 * np.pi * t / 365.25)
    promo = (rs.rand(n) < 0.1).astype(int)
    sales = 200 + 0.08 * t + weekly + yearly + 40 * promo + rs.normal(0, 8, size=n)
    df = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "sales": np.round(sales, 1),
                       "promo": promo})
    df.loc[rs.rand(n) < 0.02, "sales"] = np.nan
    df.loc[[0, n - 1], "sales"] = df.loc[[0, n - 1], "sales"].fillna(200.0)  # keep the ends
    # the export comes out unsorted
    return df.iloc[rs.permutation(n)].reset_index(drop=True)


def make_shoppers(n=800, seed=3):
    rs = np.random.RandomState(seed)
    # four latent groups: loyal, bargain hunters, lapsed, occasional big baskets
    group = rs.choice(4, size=n, p=[0.25, 0.3, 0.25, 0.2])
    recency = np.array([12, 45, 220, 60])[group] * rs.lognormal(0, 0.3, size=n)
    orders = np.array([32, 16, 3, 6])[group] * rs.lognormal(0, 0.25, size=n)
    basket = np.array([85, 30, 50, 140])[group] * rs.lognormal(0, 0.2, size=n)
    discount = np.clip(np.array([0.08, 0.42, 0.15, 0.05])[group] + rs.normal(0, 0.05, size=n), 0, 0.9)
    df = pd.DataFrame({
        "customer_id": ["S%04d" % i for i in range(1, n + 1)],
        "age": rs.randint(18, 75, size=n).astype(float),
        "channel": rs.choice(["web", "app", "store"], size=n, p=[0.45, 0.35, 0.2]),
        "recency_days": np.round(recency).astype(int) + 1,
        "orders_per_year": np.round(orders, 1),
        "avg_basket": np.round(basket, 2),
        "pct_discount": np.round(discount, 3),
    })
    df.loc[rs.rand(n) < 0.03, "age"] = np.nan
    return df


POS_ADJ = ["great", "excellent", "amazing", "wonderful", "fantastic", "solid", "reliable",
           "lovely", "perfect", "superb", "sturdy", "fast"]
NEG_ADJ = ["terrible", "awful", "poor", "disappointing", "broken", "flimsy", "useless",
           "horrible", "cheap", "bad", "slow", "noisy"]
SUBJECTS = ["the battery", "the screen", "this product", "the delivery", "customer service",
            "the price", "the build quality", "the app", "the sound", "the packaging",
            "the manual", "the charger"]
VERBS = ["is", "was", "seems", "felt", "turned out", "looks"]
OPENERS = ["honestly", "well", "overall", "to be fair", "i think", "so far", "", "", ""]
POS_CLOSERS = ["would buy again!", "recommend to friends.", "five stars.", "very happy :)", ""]
NEG_CLOSERS = ["will return it.", "one star.", "never again!!", "not recommended.", ""]
MID_CLOSERS = ["as expected.", "not sure yet.", "we will see.", ""]


def make_reviews(n=1500, seed=11):
    rs = np.random.RandomState(seed)

    def pick(seq):
        return seq[rs.randint(len(seq))]

    rows = []
    for _ in range(n):
        label = int(rs.rand() < 0.5)
        good, bad = (POS_ADJ, NEG_ADJ) if label else (NEG_ADJ, POS_ADJ)
        adj1 = pick(good) if rs.rand() < 0.85 else pick(bad)
        adj2 = pick(good) if rs.rand() < 0.7 else pick(bad)
        r = rs.rand()
        closer = pick(POS_CLOSERS if label else NEG_CLOSERS) if r < 0.5 else (
            pick(MID_CLOSERS) if r < 0.8 else pick(NEG_CLOSERS if label else POS_CLOSERS))
        joiner = pick([", and", ", but", ".", " and"])
        text = "%s %s %s %s%s %s %s %s. %s" % (pick(OPENERS), pick(SUBJECTS), pick(VERBS), adj1,
                                                 joiner, pick(SUBJECTS), pick(VERBS), adj2, closer)
        text = " ".join(text.split())
        style = rs.rand()
        if style < 0.3:
            text = text[0].upper() + text[1:]
        elif style < 0.38:
            text = text.upper()
        if rs.rand() < 0.03:  # label noise
            label = 1 - label
        rows.append((text, label))
    df = pd.DataFrame(rows, columns=["text", "label"])
    # duplicates: some exact, some that only differ by case (caught after .str.lower())
    exact = df.iloc[rs.choice(n, 40, replace=False)]
    cased = df.iloc[rs.choice(n, 60, replace=False)].copy()
    cased["text"] = cased["text"].str.title()
    df = pd.concat([df, exact, cased], ignore_index=True)
    return df.iloc[rs.permutation(len(df))].reset_index(drop=True)


def write_data():
    os.makedirs(DATA, exist_ok=True)
    files = {
        "customers.csv": make_customers(),
        "houses.csv": make_houses(),
        "sales.csv": make_sales(),
        "shoppers.csv": make_shoppers(),
        "reviews.csv": make_reviews(),
    }
    for name, frame in files.items():
        path = os.path.join(DATA, name)
        frame.to_csv(path, index=False)
        size = os.path.getsize(path)
        assert size < 300_000, (name, size)
    return sorted(files)


# --------------------------------------------------------------------------------------
# notebook helpers
# --------------------------------------------------------------------------------------

def md(src):
    return ("markdown", textwrap.dedent(src).strip("\n"), None)


def code(src, tags=None):
    return ("code", textwrap.dedent(src).strip("\n"), tags)


def build(name, cells):
    nb = new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                       "name": "python3"},
        "language_info": {"name": "python", "pygments_lexer": "ipython3",
                          "codemirror_mode": {"name": "ipython", "version": 3},
                          "file_extension": ".py", "mimetype": "text/x-python",
                          "nbconvert_exporter": "python"},
    }
    for i, (kind, src, tags) in enumerate(cells):
        cell = new_code_cell(src) if kind == "code" else new_markdown_cell(src)
        cell.id = "%s-%02d" % (name.replace("_", "-"), i)  # deterministic ids
        if tags:
            cell.metadata["tags"] = list(tags)
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


# --------------------------------------------------------------------------------------
# churn.ipynb -- headings only (H1 + H2 sections), lots of df mutation
# --------------------------------------------------------------------------------------

CHURN = [
    md("""
    # Customer churn model

    Predict which customers are going to cancel. Data is the CRM export from last month.
    """),
    code("""
    !pip install scikit-learn
    """),
    code("""
    import warnings
    warnings.filterwarnings("ignore")

    import numpy as np
    import pandas as pd
    import matplotlib.pyplot as plt
    import seaborn as sns

    from sklearn.model_selection import train_test_split
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score, roc_auc_score, confusion_matrix, classification_report

    %matplotlib inline
    pd.set_option("display.max_columns", 50)
    np.random.seed(42)
    """),
    code("""
    CAP_Q = 0.99  # quantile used to cap outliers
    """),
    md("""
    ## Load data
    """),
    code("""
    df = pd.read_csv("data/customers.csv")
    df.head()
    """),
    code("""
    df.info()
    """),
    code("""
    df.describe()
    """),
    code("""
    df.shape
    """),
    code("""
    df.columns
    """),
    code("""
    plt.figure(figsize=(5, 3))
    sns.countplot(x="churn", data=df)
    plt.title("churn balance")
    plt.show()
    """),
    code("""
    df.churn.mean()
    """),
    md("""
    ## Clean
    """),
    code("""
    df.isna().sum()
    """),
    code("""
    # can't do much without the charges
    df.dropna(subset=["monthly_charges"], inplace=True)
    df.shape
    """),
    code("""
    df.fillna({"age": df["age"].median(), "region": "unknown", "total_charges": df["total_charges"].median()}, inplace=True)
    df.isna().sum().sum()
    """),
    code("""
    # some rows have tenure <= 0 (new signups / broken export) -> drop them
    df = df[df.tenure_months > 0]
    df.head()
    """),
    code("""
    df["monthly_charges"].hist(bins=40)
    """),
    code("""
    def cap_outliers(s):
        return s.clip(upper=s.quantile(CAP_Q))
    """),
    code("""
    df["monthly_charges"] = cap_outliers(df["monthly_charges"])
    df["total_charges"] = cap_outliers(df["total_charges"])
    df["monthly_charges"].max()
    """),
    code("""
    # df.sample(5)
    df.head()
    """),
    md("""
    ## Features
    """),
    code("""
    df["charges_per_month"] = df["total_charges"] / df["tenure_months"]
    df["is_new"] = (df["tenure_months"] < 6).astype(int)
    df["calls_per_year"] = df["support_calls"] / (df["tenure_months"] / 12)
    """),
    code("""
    plt.figure(figsize=(6, 3))
    sns.histplot(data=df, x="tenure_months", hue="churn", bins=30)
    plt.show()
    """),
    code("""
    df.groupby("contract")["churn"].mean()
    """),
    code("""
    df = df.drop(columns=["customer_id"])
    df = pd.get_dummies(df, columns=["gender", "region", "contract", "internet_service", "payment_method"], drop_first=True, dtype=int)
    df.head()
    """),
    code("""
    df.shape
    """),
    md("""
    ## Train
    """),
    code("""
    X = df.drop(columns=["churn"])
    y = df["churn"]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=42, stratify=y)
    print(X_train.shape, X_test.shape)
    """),
    code("""
    model = RandomForestClassifier(n_estimators=200, max_depth=8, min_samples_leaf=3, random_state=42, n_jobs=1)
    """),
    code("""
    model.fit(X_train, y_train)
    """),
    code("""
    importances = pd.Series(model.feature_importances_, index=X.columns).sort_values(ascending=False)
    importances.head(10)
    """),
    md("""
    ## Evaluate
    """),
    code("""
    y_pred = model.predict(X_test)
    y_proba = model.predict_proba(X_test)[:, 1]
    accuracy = accuracy_score(y_test, y_pred)
    auc = roc_auc_score(y_test, y_proba)
    print("accuracy", round(accuracy, 4), "auc", round(auc, 4))
    """),
    code("""
    cm = confusion_matrix(y_test, y_pred)
    plt.figure(figsize=(4, 4))
    sns.heatmap(cm, annot=True, fmt="d", cmap="Blues", cbar=False)
    plt.xlabel("predicted")
    plt.ylabel("actual")
    plt.title("confusion matrix")
    plt.show()
    """),
    code("""
    print(classification_report(y_test, y_pred))
    """),
]


# --------------------------------------------------------------------------------------
# house_prices.ipynb -- no headings, no tags; in-place loop mutation, magics, redefinition
# --------------------------------------------------------------------------------------

HOUSES = [
    md("""
    quick & dirty regression on the houses export (price in dollars). TODO: clean this up before sharing
    """),
    code("""
    import os
    import numpy as np
    import pandas as pd
    import matplotlib.pyplot as plt
    from sklearn.model_selection import train_test_split
    from sklearn.linear_model import LinearRegression, Ridge
    from sklearn.ensemble import RandomForestRegressor, GradientBoostingRegressor
    from sklearn.metrics import r2_score, mean_absolute_error, mean_squared_error
    %matplotlib inline

    os.makedirs("outputs", exist_ok=True)
    """),
    code("""
    houses = pd.read_csv("data/houses.csv")
    houses.head()
    """),
    code("""
    houses.describe()
    """),
    code("""
    houses.isna().sum()
    """),
    code("""
    houses = houses.drop(columns=["house_id"])
    houses.shape
    """),
    code("""
    def make_features(df):
        # first attempt: just the age of the house
        df = df.copy()
        df["age"] = 2024 - df["year_built"]
        return df
    """),
    code("""
    make_features(houses).head()
    """),
    code("""
    train, test = train_test_split(houses, test_size=0.2, random_state=7)
    train = train.reset_index(drop=True)
    test = test.reset_index(drop=True)
    print(train.shape, test.shape)
    """),
    code("""
    for d in [train, test]:
        d["sqft_per_room"] = d["sqft"] / d["rooms"]
        d["bath_ratio"] = d["bathrooms"] / d["bedrooms"]
        d.fillna(0, inplace=True)
    """),
    code("""
    train.head()
    """),
    md("""
    ratio features above seem to help the GBM a bit. log-transform the skewed ones:
    """),
    code("""
    class LogTransformer:
        \"\"\"log1p on a few skewed columns, sklearn-ish fit/transform API\"\"\"

        def __init__(self, cols):
            self.cols = cols

        def fit(self, X, y=None):
            self.offsets_ = {c: float(max(0.0, -X[c].min())) for c in self.cols}
            return self

        def transform(self, X):
            X = X.copy()
            for c in self.cols:
                X[c] = np.log1p(X[c] + self.offsets_[c])
            return X
    """),
    code("""
    lt = LogTransformer(["lot_size", "sqft"])
    lt.fit(train)
    train = lt.transform(train)
    test = lt.transform(test)
    train[["lot_size", "sqft"]].describe()
    """),
    code("""
    # v2: age + flags + neighborhood dummies (replaces the version above)
    def make_features(df):
        df = df.copy()
        df["age"] = 2024 - df["year_built"]
        df["is_new"] = (df["age"] < 10).astype(int)
        df["has_garage"] = (df["garage_spaces"] > 0).astype(int)
        df = pd.get_dummies(df, columns=["neighborhood"], dtype=int)
        return df
    """),
    code("""
    train = make_features(train)
    test = make_features(test)
    test = test.reindex(columns=train.columns, fill_value=0)
    train.head()
    """),
    code("""
    LinearRegression?
    """),
    code("""
    target = "price"
    features = [c for c in train.columns if c != target]
    X_train, y_train = train[features], train[target]
    X_test, y_test = test[features], test[target]
    len(features)
    """),
    code("""
    models = {
        "linreg": LinearRegression(),
        "ridge": Ridge(alpha=1.0),
        "rf": RandomForestRegressor(n_estimators=100, max_depth=10, random_state=0, n_jobs=1),
        "gbm": GradientBoostingRegressor(n_estimators=150, max_depth=3, random_state=0),
    }
    """),
    code("""
    %%time
    lst = []
    scores = {}
    for name, m in models.items():
        m.fit(X_train, y_train)
        p = m.predict(X_test)
        lst.append({"model": name, "r2": r2_score(y_test, p), "mae": mean_absolute_error(y_test, p)})
        scores.update({name: r2_score(y_test, p)})
    """),
    code("""
    results = pd.DataFrame(lst).sort_values("r2", ascending=False)
    results
    """),
    code("""
    scores
    """),
    code("""
    best_name = max(scores, key=scores.get)
    best_model = models[best_name]
    best_name
    """),
    code("""
    %time preds = best_model.predict(X_test)
    """),
    code("""
    r2 = r2_score(y_test, preds)
    mae = mean_absolute_error(y_test, preds)
    rmse = np.sqrt(mean_squared_error(y_test, preds))
    print(f"{best_name}: r2={r2:.3f} mae={mae:,.0f} rmse={rmse:,.0f}")
    """),
    code("""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(preds, y_test - preds, s=8, alpha=0.5)
    ax.axhline(0, color="red", lw=1)
    ax.set_xlabel("predicted price")
    ax.set_ylabel("residual")
    ax.set_title(f"residuals ({best_name})")
    plt.savefig("outputs/residuals.png")
    plt.show()
    """),
    code("""
    fig, ax = plt.subplots()
    ax.scatter(y_test, preds, s=8)
    ax.plot([y_test.min(), y_test.max()], [y_test.min(), y_test.max()], "k--")
    """),
    code("""
    # print(results.to_markdown())
    results.r2.max()
    """),
]


# --------------------------------------------------------------------------------------
# forecast.ipynb -- headings + papermill `parameters` cell, file round-trip via outputs/
# --------------------------------------------------------------------------------------

FORECAST = [
    md("""
    # Daily sales forecast

    Forecast the next `horizon` days of sales. Parameters can be overridden with papermill.
    """),
    code("""
    import os
    import numpy as np
    import pandas as pd
    import matplotlib.pyplot as plt
    from sklearn.linear_model import Ridge
    %matplotlib inline

    plt.rcParams["figure.figsize"] = (10, 4)
    """),
    code("""
    horizon = 14  # days to forecast
    window = 7    # rolling window for the features
    alpha = 0.3   # smoothing factor of the baseline
    """, tags=["parameters"]),
    code("""
    # reproducibility
    import random; random.seed(0)
    np.random.seed(0)
    """),
    md("""
    ## Load data
    """),
    code("""
    df = pd.read_csv("data/sales.csv", parse_dates=["date"])
    df.head()
    """),
    code("""
    df.set_index("date", inplace=True)
    df.sort_index(inplace=True)
    df.head()
    """),
    code("""
    df.isna().sum()
    """),
    code("""
    df["sales"] = df["sales"].interpolate()
    df["sales"].plot(title="daily sales")
    plt.show()
    """),
    code("""
    df.tail()
    """),
    md("""
    ## Features
    """),
    code("""
    df["lag_1"] = df["sales"].shift(1)
    df["lag_7"] = df["sales"].shift(7)
    df["roll_mean"] = df["sales"].shift(1).rolling(window).mean()
    df["roll_std"] = df["sales"].shift(1).rolling(window).std()
    df["dow"] = df.index.day_of_week
    df.tail()
    """),
    code("""
    df = df.dropna()
    df = pd.get_dummies(df, columns=["dow"], prefix="dow", dtype=int)
    df.shape
    """),
    md("""
    ## Train / test split
    """),
    code("""
    cutoff = df.index.max() - pd.Timedelta(days=horizon)
    train = df[df.index <= cutoff]
    test = df[df.index > cutoff]
    print(train.index.min().date(), train.index.max().date(), "->", test.index.min().date(), test.index.max().date(), len(test))
    """),
    md("""
    ## Model
    """),
    code("""
    def exp_smooth(series, alpha):
        \"\"\"simple exponential smoothing, returns the last smoothed level\"\"\"
        level = series.iloc[0]
        for v in series.iloc[1:]:
            level = alpha * v + (1 - alpha) * level
        return level


    def mean_abs_pct_error(y_true, y_pred):
        y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
        return float(np.mean(np.abs((y_true - y_pred) / y_true)) * 100)
    """),
    code("""
    feature_cols = [c for c in df.columns if c != "sales"]
    model = Ridge(alpha=1.0)
    model.fit(train[feature_cols], train["sales"])
    pred_ridge = model.predict(test[feature_cols])
    pred_ridge[:5]
    """),
    code("""
    level = exp_smooth(train["sales"], alpha)
    pred_es = np.repeat(level, len(test))
    level
    """),
    code("""
    # jitter the ridge forecast with the residual noise -> crude 90% prediction interval
    resid_std = float(np.std(train["sales"] - model.predict(train[feature_cols])))
    sims = np.array([[p + random.gauss(0, resid_std) for p in pred_ridge] for _ in range(200)])
    lower = np.percentile(sims, 5, axis=0)
    upper = np.percentile(sims, 95, axis=0)
    resid_std
    """),
    md("""
    ## Forecast
    """),
    code("""
    os.makedirs("outputs", exist_ok=True)
    forecast = pd.DataFrame(
        {"actual": test["sales"], "ridge": pred_ridge, "es": pred_es, "lower": lower, "upper": upper},
        index=test.index,
    )
    forecast.to_csv("outputs/forecast.csv")
    forecast.head()
    """),
    code("""
    fig, ax = plt.subplots()
    ax.plot(forecast.index, forecast["actual"], "o-", label="actual")
    ax.plot(forecast.index, forecast["ridge"], "s--", label="ridge")
    ax.plot(forecast.index, forecast["es"], ":", label="exp. smoothing")
    ax.fill_between(forecast.index, forecast["lower"], forecast["upper"], alpha=0.2)
    ax.legend()
    plt.show()
    """),
    md("""
    ## Report
    """),
    code("""
    fc = pd.read_csv("outputs/forecast.csv", parse_dates=["date"], index_col="date")
    fc.head()
    """),
    code("""
    mape = mean_abs_pct_error(fc["actual"], fc["ridge"])
    mape_es = mean_abs_pct_error(fc["actual"], fc["es"])
    coverage = float(((fc["actual"] >= fc["lower"]) & (fc["actual"] <= fc["upper"])).mean())
    print(f"ridge MAPE {mape:.2f}% | ES baseline MAPE {mape_es:.2f}% | interval coverage {coverage:.0%}")
    """),
]


# --------------------------------------------------------------------------------------
# segmentation.ipynb -- H1-only sections, text-only section, local helper module
# --------------------------------------------------------------------------------------

SEGMENTATION = [
    md("""
    # Load

    Customer segmentation on the shopper table (one row per customer).
    """),
    code("""
    import os
    os.environ["OMP_NUM_THREADS"] = "1"
    import sys
    sys.path.append(".")

    import numpy as np
    import pandas as pd
    import matplotlib.pyplot as plt
    import seaborn as sns
    from sklearn.preprocessing import StandardScaler
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    import seg_helpers
    %matplotlib inline
    """),
    code("""
    df = pd.read_csv("data/shoppers.csv")
    df.head()
    """),
    code("""
    df.describe()
    """),
    code("""
    df = seg_helpers.add_spend(df)
    df.head()
    """),
    code("""
    df.channel.value_counts()
    """),
    md("""
    # Scale
    """),
    code("""
    features = ["recency_days", "orders_per_year", "avg_basket", "pct_discount", "log_spend"]
    X = df[features]
    scaler = StandardScaler()
    scaler.fit(X)
    """),
    code("""
    scaler.mean_
    """),
    md("""
    # Notes

    Tried 3 to 6 clusters last week, 4 looked the most interpretable (elbow plot below is not
    conclusive). Ask marketing what `pct_discount` really measures -- it may include coupons.
    Age is deliberately **not** used for clustering.
    """),
    md("""
    # Cluster
    """),
    code("""
    X_scaled = scaler.transform(X)
    X_scaled[:3]
    """),
    code("""
    inertias = []
    for k in range(2, 8):
        inertias.append(KMeans(n_clusters=k, random_state=0, n_init=10).fit(X_scaled).inertia_)
    plt.plot(range(2, 8), inertias, "o-")
    plt.xlabel("k")
    plt.ylabel("inertia")
    plt.show()
    """),
    code("""
    km = KMeans(n_clusters=4, random_state=0, n_init=10)
    km.fit(X_scaled)
    inertia = km.inertia_
    """),
    code("""
    df["segment"] = km.labels_
    df.segment.value_counts()
    """),
    code("""
    sns.scatterplot(data=df, x="recency_days", y="annual_spend", hue="segment", palette="tab10", s=15)
    plt.show()
    """),
    code("""
    silhouette = silhouette_score(X_scaled, km.labels_)
    silhouette
    """),
    md("""
    # Profile
    """),
    code("""
    profile = df.groupby("segment").mean(numeric_only=True)
    display(profile)
    """),
    code("""
    profile["name"] = seg_helpers.name_segments(profile)
    profile["size"] = df["segment"].value_counts().sort_index()
    display(profile)
    """),
    code("""
    sns.pairplot(df[["recency_days", "orders_per_year", "avg_basket", "segment"]], hue="segment", diag_kind="hist", height=2)
    plt.show()
    """),
    code("""
    df.head()
    """),
]


# --------------------------------------------------------------------------------------
# reviews_tagged.ipynb -- fully Kale-style tagged
# --------------------------------------------------------------------------------------

REVIEWS = [
    md("""
    # Review sentiment

    TF-IDF + logistic regression on product reviews. Cells are tagged for pipeline conversion.
    """),
    code("""
    import re

    import numpy as np
    import pandas as pd
    from sklearn.model_selection import train_test_split, cross_val_score
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, classification_report
    """, tags=["imports"]),
    code("""
    def clean_text(s):
        # keep letters and a few smileys, squash whitespace
        s = re.sub(r"[^a-z:)!? ]+", " ", s)
        return re.sub(r"\\s+", " ", s).strip()


    def top_terms(vec, model, n=10):
        terms = np.array(vec.get_feature_names_out())
        order = np.argsort(model.coef_[0])
        return list(terms[order[:n]]), list(terms[order[-n:]])
    """, tags=["functions"]),
    code("""
    max_features = 500
    C = 1.0
    test_size = 0.25
    seed = 0
    """, tags=["pipeline-parameters"]),
    code("""
    df = pd.read_csv("data/reviews.csv")
    df.head()
    """, tags=["step:load_data"]),
    code("""
    print(df.shape)
    df.label.value_counts()
    """),
    code("""
    # scratch: eyeballing a few rows
    df.sample(5, random_state=1)
    """, tags=["skip"]),
    code("""
    df["text"] = df["text"].str.lower()
    n_before = len(df)
    df.drop_duplicates(inplace=True)
    print("dropped", n_before - len(df), "duplicates")
    """, tags=["step:preprocess", "prev:load_data"]),
    code("""
    df["text"] = df["text"].apply(clean_text)
    df = df[df["text"].str.len() > 0]
    df.head()
    """),
    code("""
    train_df, test_df = train_test_split(df, test_size=test_size, random_state=seed, stratify=df["label"])
    vec = TfidfVectorizer(max_features=max_features, ngram_range=(1, 2))
    X_train = vec.fit_transform(train_df["text"])
    X_test = vec.transform(test_df["text"])
    y_train, y_test = train_df["label"].values, test_df["label"].values
    """, tags=["step:featurize", "prev:preprocess"]),
    code("""
    X_train.shape
    """),
    code("""
    model = LogisticRegression(C=C, max_iter=1000)
    model.fit(X_train, y_train)
    """, tags=["step:train", "prev:featurize"]),
    code("""
    # quick sanity check of the regularisation strength (cv on the training set)
    lst = []
    for c in [0.1, C, 10.0]:
        cv = cross_val_score(LogisticRegression(C=c, max_iter=1000), X_train, y_train, cv=3)
        lst.append((c, round(float(cv.mean()), 4)))
    lst
    """),
    code("""
    y_pred = model.predict(X_test)
    accuracy = accuracy_score(y_test, y_pred)
    f1 = f1_score(y_test, y_pred)
    print(f"accuracy={accuracy:.3f} f1={f1:.3f}")
    """, tags=["step:evaluate", "prev:train"]),
    code("""
    print(classification_report(y_test, y_pred))
    top_terms(vec, model)
    """),
    code("""
    accuracy
    f1
    """, tags=["pipeline-metrics"]),
]


NOTEBOOKS = {
    "churn": CHURN,
    "house_prices": HOUSES,
    "forecast": FORECAST,
    "segmentation": SEGMENTATION,
    "reviews_tagged": REVIEWS,
}


def write_notebooks():
    paths = []
    for name, cells in NOTEBOOKS.items():
        nb = build(name, cells)
        path = os.path.join(HERE, name + ".ipynb")
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            nbformat.write(nb, fh)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------------------
# execution check
# --------------------------------------------------------------------------------------

_FINGERPRINT = '''
import json as _json, hashlib as _hashlib
import numpy as _np, pandas as _pd
def _fp(v):
    if isinstance(v, (bool, int, float, _np.integer, _np.floating)):
        return round(float(v), 9)
    if isinstance(v, (_pd.DataFrame, _pd.Series)):
        v = v.round(6) if hasattr(v, "round") else v
        return "%s %s md5:%s" % (type(v).__name__, list(v.shape),
                                 _hashlib.md5(v.to_csv().encode()).hexdigest()[:12])
    if isinstance(v, dict):
        return {str(k): _fp(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_fp(x) for x in v]
    if isinstance(v, str):
        return v
    return type(v).__name__
print("__KEYS__" + _json.dumps({_k: _fp(globals()[_k]) for _k in __VARS__}))
'''


def execute(name, timeout=120):
    """Execute one notebook (cwd = this folder) and return (fingerprint dict, seconds)."""
    import nbclient

    # make `!pip` inside the notebooks resolve to the pip of the running interpreter's env
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    nb = nbformat.read(os.path.join(HERE, name + ".ipynb"), as_version=4)
    nb = copy.deepcopy(nb)
    nb.cells.append(new_code_cell(_FINGERPRINT.replace("__VARS__", repr(KEY_VARS[name]))))
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=timeout,
                                     resources={"metadata": {"path": HERE}})
    t0 = time.time()
    client.execute()
    elapsed = time.time() - t0
    for out in nb.cells[-1].outputs:
        text = out.get("text", "")
        if "__KEYS__" in text:
            return json.loads(text.split("__KEYS__", 1)[1]), elapsed
    raise RuntimeError("no fingerprint output for %s" % name)


def run_all(repeats=2):
    ok = True
    for name in NOTEBOOKS:
        runs = [execute(name) for _ in range(repeats)]
        same = all(r[0] == runs[0][0] for r in runs)
        ok &= same
        print("%-15s %s  times=%s" % (name, "deterministic" if same else "NOT DETERMINISTIC",
                                      ", ".join("%.1fs" % r[1] for r in runs)))
        print("    ", json.dumps(runs[0][0]))
    return ok


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", action="store_true",
                        help="also execute every notebook twice and compare key variables")
    args = parser.parse_args(argv)
    for name in write_data():
        print("wrote data/%s (%d bytes)" % (name, os.path.getsize(os.path.join(DATA, name))))
    for path in write_notebooks():
        nb = nbformat.read(path, as_version=4)
        print("wrote %s (%d cells)" % (os.path.basename(path), len(nb.cells)))
    if args.run:
        return 0 if run_all() else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
