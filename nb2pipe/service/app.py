"""The HTTP service behind `nb2pipe serve` (issue 16, items 3-4): FastAPI on the generated
project's verified `serving.py`.

Endpoints: `POST /predict` (JSON records), the Open Inference Protocol v2 REST endpoints that
KServe and Seldon speak (`/v2`, `/v2/health/*`, `/v2/models/NAME[/ready|/infer]`),
`/health/live` and `/health/ready`, and the OpenAPI schema (`/openapi.json`, `/docs`) whose
row model comes from the training data: column names, types, categories, nulls.

A bad request gets a 4xx naming the column and the problem, never a 500: missing or extra
columns, wrong types, null where training had none, unseen categories (pydantic, 422), an
empty batch (422), a batch over MAX_ROWS (413), malformed JSON (422). Values outside the
training range are served and flagged in the response (`drift`) and logged.
"""


import logging
import math
from typing import Annotated, Any, Literal, Optional

MAX_ROWS = 10_000
MAX_CATEGORIES = 100  # more distinct strings than this: a free-text column, not an enum
LOG = logging.getLogger("nb2pipe.serve")


class Service:
    """The serving module and its learned state, with the request schema taken from the
    training data (the raw columns a request needs, as the proof found them; kinds, ranges
    and categories from the state's profile of the raw data)."""

    def __init__(self, serving: Any, state: Any, name: str, source: str = "") -> None:
        self.serving, self.state, self.name = serving, state, name
        self.source = source  # where the model and its state come from ("run 3")
        raw = state.raw  # the evaluation rows
        self.columns = [c for c in raw.columns if str(c) in set(state.required)]
        self.optional = [c for c in raw.columns if str(c) in set(state.optional)]
        self.kinds = dict(state.profile["kinds"])
        # null only where the notebook predicted rows with nulls (rows it dropped before
        # training, e.g. with dropna, had nulls the model never saw)
        seen = raw.loc[state.test_labels] if state.test_labels is not None else raw
        self.nullable = {str(c): bool(seen[c].isna().any()) for c in raw.columns}
        self.ranges = {c: tuple(r) for c, r in state.profile["ranges"].items()}
        self.categories = dict(state.profile["categories"])

    def row_model(self):
        """The pydantic model of one request row (the OpenAPI schema shows it)."""
        from pydantic import AllowInfNan, ConfigDict, Field, create_model

        fields: dict[str, Any] = {}
        for c in self.columns + self.optional:
            name = str(c)
            kind = self.kinds[name]
            if kind == "str" and len(self.categories[name]) <= MAX_CATEGORIES:
                typ: Any = Literal[tuple(self.categories[name])]
            else:
                typ = {"int": int, "float": float, "bool": bool}.get(kind, str)
            if self.nullable[name]:
                typ = Optional[typ]
            elif typ is float:  # a NaN literal (JSON's common extension) is a null too
                typ = Annotated[float, AllowInfNan(False)]
            required = c in self.columns and not self.nullable[name]
            note = ("in training: " + " to ".join(f"{v:g}" for v in self.ranges[name])
                    + " (values outside are served and flagged as drift)"
                    if name in self.ranges else None)
            fields[name] = (typ, Field(... if required else None, description=note))
        config = ConfigDict(extra="forbid", strict=False)
        return create_model("Row", __config__=config, **fields)

    def predict(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        import pandas as pd

        frame = pd.DataFrame.from_records(records, columns=[str(c) for c in self.columns]
                                          + [str(c) for c in self.optional
                                             if any(str(c) in r for r in records)])
        for c in frame.columns:  # the training data's dtypes (JSON has no int/float split)
            if self.kinds[str(c)] in ("int", "float") and not frame[c].isna().any():
                frame[c] = frame[c].astype(self.state.raw[c].dtype)
        answers = self.serving.predict(frame, self.state)
        drift = self.out_of_range(frame)
        for d in drift:
            LOG.warning("drift: row %s column %s = %s outside the training range %s",
                        d["row"], d["column"], d["value"], d["range"])
        values = answers.to_dict(orient="list")
        return {"predictions": [_plain(v) for v in values.get("prediction", [])]
                or [dict(zip(values, map(_plain, row))) for row in zip(*values.values())],
                "drift": drift}

    def out_of_range(self, frame) -> list[dict[str, Any]]:
        found = []
        for column, (low, high) in self.ranges.items():
            if column not in frame.columns:
                continue
            for i, v in enumerate(frame[column].tolist()):
                if v is not None and not (isinstance(v, float) and math.isnan(v)) and not (
                        low <= float(v) <= high):
                    found.append({"row": i, "column": column, "value": _plain(v),
                                  "range": [low, high]})
        return found


def _plain(v: Any) -> Any:
    """numpy scalars as JSON values."""
    return v.item() if hasattr(v, "item") else v


def _v2_datatype(kind: str) -> str:
    return {"int": "INT64", "float": "FP64", "bool": "BOOL"}.get(kind, "BYTES")


def build_app(service: Service):
    """The FastAPI application: records, Open Inference Protocol v2, health, OpenAPI."""
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, Field

    row_model = service.row_model()
    records_model = _records_model(row_model)
    app = FastAPI(title=f"{service.name} (nb2pipe)", description=(
        "The notebook's pre-processing and model, verified against the notebook's own "
        "predictions before it serves. Bad requests get a 4xx naming the column."))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):  # never a traceback to a client
        LOG.exception("prediction failed")
        return JSONResponse({"detail": f"{type(exc).__name__}: {exc}"}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return JSONResponse({"detail": _problems(exc.errors())}, status_code=422)

    def answer(records: list[dict[str, Any]]) -> dict[str, Any]:
        if not records:
            raise HTTPException(422, "a request needs at least one row")
        if len(records) > MAX_ROWS:
            raise HTTPException(413, f"{len(records)} rows: at most {MAX_ROWS} per request")
        try:
            return service.predict(records)
        except service.serving.ServingError as exc:
            raise HTTPException(422, str(exc)) from None

    @app.post("/predict")
    def predict(body: records_model) -> dict[str, Any]:
        return answer([r.model_dump(exclude_unset=True) for r in body.rows])

    @app.get("/health/live")
    @app.get("/v2/health/live")
    def live() -> dict[str, Any]:
        return {"live": True}

    @app.get("/health/ready")
    @app.get("/v2/health/ready")
    @app.get(f"/v2/models/{service.name}/ready")
    def ready() -> dict[str, Any]:
        return {"ready": True}

    @app.get("/v2")
    def server_metadata() -> dict[str, Any]:
        return {"name": "nb2pipe", "extensions": []}

    @app.get(f"/v2/models/{service.name}")
    def model_metadata() -> dict[str, Any]:
        return {"name": service.name, "platform": "nb2pipe",
                "parameters": {"model_from": service.source}, "inputs": [
            {"name": str(c), "datatype": _v2_datatype(service.kinds[str(c)]), "shape": [-1]}
            for c in service.columns], "outputs": [
            {"name": "prediction", "datatype": "BYTES", "shape": [-1]}]}

    class V2Input(BaseModel):
        name: str
        shape: list[int]
        datatype: str
        data: list[Any] = Field(max_length=MAX_ROWS + 1)

    class V2Request(BaseModel):
        inputs: list[V2Input]

    @app.post(f"/v2/models/{service.name}/infer")
    def infer(body: V2Request) -> dict[str, Any]:
        records = _v2_records(body.inputs, row_model)
        result = answer(records)
        data = result["predictions"]
        return {"model_name": service.name, "outputs": [
            {"name": "prediction", "shape": [len(data)], "datatype": _v2_answer_type(data),
             "data": data}], "parameters": {"drift": result["drift"]}}

    return app


def _problems(errors) -> list[dict[str, Any]]:
    """Validation errors without the offending input: it may be a NaN, which JSON cannot
    carry (the default answer would then be a 500), or 10,000 rows not worth echoing."""
    return [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")),
             "type": str(e.get("type", ""))} for e in errors]


def _records_model(row_model):
    from pydantic import BaseModel, Field

    class Records(BaseModel):
        rows: list[row_model] = Field(max_length=MAX_ROWS)  # type: ignore[valid-type]

    return Records


def _v2_records(inputs, row_model) -> list[dict[str, Any]]:
    """Column tensors -> rows, each checked by the row model (422 naming the column)."""
    from fastapi import HTTPException
    from pydantic import ValidationError

    lengths = {len(i.data) for i in inputs}
    if len(lengths) > 1:
        raise HTTPException(422, "every input needs the same number of values "
                                 f"({', '.join(f'{i.name}: {len(i.data)}' for i in inputs)})")
    n = lengths.pop() if lengths else 0
    if n > MAX_ROWS:
        raise HTTPException(413, f"{n} rows: at most {MAX_ROWS} per request")
    records = [{i.name: i.data[k] for i in inputs} for k in range(n)]
    out = []
    for k, rec in enumerate(records):
        try:
            out.append(row_model(**rec).model_dump(exclude_unset=True))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                 for e in exc.errors())
            raise HTTPException(422, f"row {k}: {problems}") from None
    return out


def _v2_answer_type(data: list[Any]) -> str:
    if data and all(isinstance(v, bool) for v in data):
        return "BOOL"
    if data and all(isinstance(v, int) for v in data):
        return "INT64"
    if data and all(isinstance(v, (int, float)) for v in data):
        return "FP64"
    return "BYTES"
