"""The sweep store (結果ストア): a resumable folder of Parquet files, one per finished run, and a run table.

Layout of a sweep folder (docs/experiments.md has the details)::

    DIR/run-000000.parquet      tidy results of run 0 (one file per finished run)
    DIR/run-000001.parquet      ...
    DIR/_runs/run-000000.pq     run-table row of run 0 (ok or failed, with its traceback)
    DIR/_sweep/sweep.json       the sweep: spec, overrides, root seed, design, fingerprint, sessions
    DIR/_sweep/design.pq        every planned run: run, point, rep, seed, parameters, parameter hash
    DIR/_sweep/spec.toml        the spec file as given
    DIR/_sweep/lock             held (filelock) while a sweep writes here; lock.owner says who
    DIR/_sweep/damaged/         finished run files that failed their checksum, moved aside and re-run

Names starting with ``_`` or ``.`` are skipped by pyarrow's dataset discovery, so
``pandas.read_parquet(DIR)`` reads exactly the results (with nullable integer step, year and
region columns), and so does DuckDB's ``'DIR/*.parquet'``; the metadata tables are Parquet files
named ``*.pq``, so that even a recursive ``'DIR/**/*.parquet'`` finds only results.

Every file is written to a hidden temporary name, flushed to disk and then renamed over its final
name, and only the sweep's own process writes here (workers return their Parquet bytes). A run is
finished exactly when its ``run-*.parquet`` file exists and matches the size and SHA-256 its
run-table row records; a damaged file is moved to ``_sweep/damaged/`` and the run is run again.
The run-table row is also stored in the result file's metadata, so a row lost to a kill between
the two renames is restored on resume (after the file has been read through).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from model.parameters import ScenarioError

RUNS_DIR = "_runs"
META_DIR = "_sweep"
DESIGN_FILE = f"{META_DIR}/design.pq"
ROW_SUFFIX = ".pq"     # run-table rows and the design: Parquet, but outside a '**/*.parquet' glob
SWEEP_FILE = f"{META_DIR}/sweep.json"
SPEC_FILE = f"{META_DIR}/spec.toml"
LOCK_FILE = f"{META_DIR}/lock"
LOCK_OWNER_FILE = f"{META_DIR}/lock.owner"
DAMAGED_DIR = f"{META_DIR}/damaged"
META_KEY = b"kankei.run"

_DICT = pa.dictionary(pa.int32(), pa.string())
# tidy result columns after the run identity and parameter columns
RESULT_FIELDS = [
    pa.field("output", _DICT),               # time_series | yearly | summary
    pa.field("step", pa.int32()),            # time_series: step boundary 0..n_steps
    pa.field("date", pa.timestamp("ms")),    # time_series: date at that boundary
    pa.field("year", pa.int16()),            # yearly: fiscal year (年度)
    pa.field("region", pa.int16()),          # JIS code; null = national total
    pa.field("variable", _DICT),             # stage, flow_<flow>, adults, or an outcome name
    pa.field("value", pa.float64()),         # people (scaled) or the outcome's value
]
ID_FIELDS = [pa.field("run", pa.int32()), pa.field("point", pa.int32()), pa.field("rep", pa.int32()),
             pa.field("seed", pa.int64())]
ROW_FIELDS = [
    pa.field("status", pa.string()), pa.field("wall_seconds", pa.float64()), pa.field("started", pa.string()),
    pa.field("worker", pa.string()), pa.field("code_version", pa.string()),
    pa.field("parameter_hash", pa.string()), pa.field("packages", pa.string()),
    pa.field("numba_compiles", pa.int32()), pa.field("error", pa.string()),
    pa.field("file_bytes", pa.int64()), pa.field("file_sha256", pa.string()),   # of the result file (ok runs)
]
# pandas metadata: pandas.read_parquet(DIR) gives nullable integers (not float64) for these columns
_PANDAS_META = json.dumps({"index_columns": [], "column_indexes": [], "columns": [
    {"name": n, "field_name": n, "pandas_type": t.lower(), "numpy_type": t, "metadata": None}
    for n, t in (("step", "Int32"), ("year", "Int16"), ("region", "Int16"))]}).encode()
_ARROW_TYPES = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(), "str": pa.string(),
                "json": pa.string()}


# --- parameter column types ---------------------------------------------------------------------
def param_types(points: list[dict[str, Any]]) -> dict[str, str]:
    """One Arrow-friendly type per parameter column: bool, int, float, str, or json (anything else)."""
    types: dict[str, str] = {}
    for name in (points[0] if points else {}):
        values = [p[name] for p in points]
        if all(isinstance(v, bool) for v in values):
            types[name] = "bool"
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            types[name] = "int"
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            types[name] = "float"
        elif all(isinstance(v, str) for v in values):
            types[name] = "str"
        else:
            types[name] = "json"
    return types


def param_value(value: Any, kind: str) -> Any:
    if kind == "json":
        return json.dumps(value, sort_keys=True, default=str)
    if kind == "float":
        return float(value)
    return value


def param_fields(types: dict[str, str]) -> list[pa.Field]:
    return [pa.field(name, _ARROW_TYPES[kind]) for name, kind in types.items()]


def result_schema(types: dict[str, str]) -> pa.Schema:
    """Schema of every result file of a sweep: identity, parameters, then the tidy columns."""
    return pa.schema(ID_FIELDS + param_fields(types) + RESULT_FIELDS)


def row_schema(types: dict[str, str]) -> pa.Schema:
    """Schema of a run-table row."""
    return pa.schema(ID_FIELDS + param_fields(types) + ROW_FIELDS)


# --- encoding (runs in the workers) -------------------------------------------------------------
def encode_results(records, ident: dict[str, Any], params: dict[str, Any], types: dict[str, str],
                   row: dict[str, Any]) -> bytes:
    """Parquet bytes of one run's tidy records (`experiments.outcomes.Records`), with the run-table
    row in the file metadata."""
    from experiments.outcomes import OUTPUT_KINDS

    schema = result_schema(types)
    n = len(records)
    cols = records.columns() if n else None
    data: dict[str, Any] = {k: pa.array(np.full(n, ident[k]), type=schema.field(k).type)
                            for k in ("run", "point", "rep", "seed")}
    for name, kind in types.items():
        data[name] = pa.array([param_value(params[name], kind)] * n, type=_ARROW_TYPES[kind])
    if cols is None:
        for f in RESULT_FIELDS:
            data[f.name] = pa.array([], type=f.type)
    else:
        data["output"] = pa.DictionaryArray.from_arrays(pa.array(cols["output"][0]), pa.array(list(OUTPUT_KINDS)))
        for key in ("step", "date", "year", "region"):
            values, mask = cols[key]
            data[key] = pa.array(values, type=schema.field(key).type, mask=mask)
        data["variable"] = pa.DictionaryArray.from_arrays(pa.array(cols["variable"][0]),
                                                          pa.array(records.variables(), pa.string()))
        data["value"] = pa.array(cols["value"][0], type=pa.float64())
    table = pa.Table.from_pydict(data, schema=schema)
    table = table.replace_schema_metadata({META_KEY: json.dumps(row, default=str).encode(), b"pandas": _PANDAS_META})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def encode_row(row: dict[str, Any], types: dict[str, str]) -> bytes:
    """Parquet bytes of a one-row run table."""
    schema = row_schema(types)
    data = {}
    for f in schema:
        value = row.get(f.name)
        if f.name in types and value is not None:
            value = param_value(value, types[f.name])
        data[f.name] = pa.array([value], type=f.type)
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pydict(data, schema=schema), buf)
    return buf.getvalue()


# --- atomic files --------------------------------------------------------------------------------
def atomic_write(path: Path, data: bytes, durable: bool = True) -> None:
    """Write `data` to `path` all at once: a hidden temporary file, fsync, then rename over `path`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)     # a full disk or an interrupt leaves nothing half-written
        raise


def result_path(directory: Path, run: int) -> Path:
    return Path(directory) / f"run-{run:06d}.parquet"


def row_path(directory: Path, run: int) -> Path:
    return Path(directory) / RUNS_DIR / f"run-{run:06d}{ROW_SUFFIX}"


def _run_id(path: Path) -> int | None:
    stem = path.name.removesuffix(".parquet")
    if path.name.endswith(".parquet") and stem.startswith("run-") and stem[4:].isdigit():
        return int(stem[4:])
    return None


# --- the store -----------------------------------------------------------------------------------
class SweepStore:
    """A sweep folder: opened (and locked) for one plan, then written run by run."""

    def __init__(self, directory: str | Path, durable: bool = True) -> None:
        self.directory = Path(directory)
        self.durable = durable
        self._lock_obj = None
        self.types: dict[str, str] = {}

    # opening -----------------------------------------------------------------------------------
    def check(self, plan, resume: bool = False) -> dict[str, Any] | None:
        """Check, without writing anything, that the folder is new or holds this very sweep.

        Raises `ScenarioError` when it holds another sweep or something else, or when `resume`
        finds no sweep. Returns the stored sweep description, or None for a new folder.
        """
        d = self.directory
        sweep_file = d / SWEEP_FILE
        if sweep_file.is_file():
            try:
                previous = json.loads(sweep_file.read_text())
            except (OSError, ValueError) as exc:
                raise ScenarioError(d, SWEEP_FILE, f"unreadable sweep description: {exc}") from None
            _check_not_locked(d)
            _check_same_posterior(d, previous, plan)
            if previous.get("fingerprint") != plan.fingerprint:
                raise ScenarioError(d, "", "this folder holds a different sweep "
                                    f"({previous.get('name')!r}: {previous.get('runs')} runs, root seed "
                                    f"{previous.get('root_seed')}, spec {previous.get('spec_file')}); the spec, "
                                    "its --set overrides or the seed differ. Choose another --out or delete it")
            return previous
        if resume:
            raise ScenarioError(d, "", "--resume: no sweep to resume in this folder "
                                f"({SWEEP_FILE} not found); run without --resume to start it")
        if d.exists() and not d.is_dir():
            raise ScenarioError(d, "", "exists and is not a folder")
        if d.is_dir():   # empty, or left by a sweep killed before it started its first run
            stray = [p.name for p in d.iterdir() if not (p.name.startswith(".") or p.name in (META_DIR, RUNS_DIR))]
            runs_dir = d / RUNS_DIR
            if runs_dir.is_dir() and any(not p.name.startswith(".") for p in runs_dir.iterdir()):
                stray.append(RUNS_DIR)
            if stray:
                raise ScenarioError(d, "", f"folder is not empty and holds no sweep ({', '.join(sorted(stray)[:5])}"
                                    f"{', ...' if len(stray) > 5 else ''}); choose another --out")
        return None

    def open(self, plan, resume: bool = False, spec_text: str | None = None) -> dict[str, Any]:
        """Check the folder (see `check`), lock it, tidy it, and say what is done already.

        Also raises `ScenarioError` when another process is writing to the folder.
        Returns ``{"finished": set of run ids, "failed": set, "repaired": n, "previous": dict|None}``.
        """
        d = self.directory
        sweep_file = d / SWEEP_FILE
        previous = self.check(plan, resume)
        (d / META_DIR).mkdir(parents=True, exist_ok=True)
        self._lock()
        (d / RUNS_DIR).mkdir(exist_ok=True)
        self.types = param_types([r.params for r in plan.runs])
        for tmp in [*d.glob(".*.tmp"), *(d / RUNS_DIR).glob(".*.tmp"), *(d / META_DIR).glob(".*.tmp")]:
            tmp.unlink(missing_ok=True)
        if previous is None:
            self._write_design(plan)
            if spec_text is not None:
                atomic_write(d / SPEC_FILE, spec_text.encode(), self.durable)
            info = {**plan.describe(), "created": _now(), "code_version_at_start": _code_version()}
            atomic_write(sweep_file, json.dumps(info, indent=2, ensure_ascii=False).encode(), self.durable)
        state = self.scan(plan)
        state["previous"] = previous
        return state

    def _lock(self) -> None:
        from filelock import FileLock, Timeout

        lock = FileLock(self.directory / LOCK_FILE, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise ScenarioError(self.directory, "", f"another sweep is writing to this folder ({_owner(self.directory)})"
                                ) from None
        self._lock_obj = lock
        atomic_write(self.directory / LOCK_OWNER_FILE,
                     f"pid {os.getpid()} on {socket.gethostname()} since {_now()}\n".encode(), self.durable)

    def close(self) -> None:
        """Release the folder's lock."""
        if self._lock_obj is not None:
            self._lock_obj.release()
            self._lock_obj = None

    def __enter__(self) -> "SweepStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _write_design(self, plan) -> None:
        rows = []
        for r in plan.runs:
            row = {"run": r.run, "point": r.point, "rep": r.rep, "seed": r.seed}
            row.update({k: param_value(v, self.types[k]) for k, v in r.params.items()})
            row["parameter_hash"] = r.param_hash
            rows.append(row)
        schema = pa.schema(ID_FIELDS + param_fields(self.types) + [pa.field("parameter_hash", pa.string())])
        table = pa.Table.from_pylist(rows, schema=schema)
        if plan.unit is not None:  # the design in unit coordinates (what SALib's analyses read)
            for j, name in enumerate(plan.spec.parameters):
                unit = [float(plan.unit[r.point, j]) for r in plan.runs]
                table = table.append_column(pa.field(f"unit.{name}", pa.float64()), pa.array(unit))
        buf = io.BytesIO()
        pq.write_table(table, buf)
        atomic_write(self.directory / DESIGN_FILE, buf.getvalue(), self.durable)

    def scan(self, plan) -> dict[str, Any]:
        """Finished runs (their result file exists and is intact), failed ones, rows restored from
        result files, and damaged result files (moved to `_sweep/damaged/`, to be run again)."""
        d = self.directory
        planned = {r.run for r in plan.runs}
        finished = {i for p in d.glob("run-*.parquet") if (i := _run_id(p)) is not None and i in planned}
        rows = read_rows(d, ["run", "status", "file_bytes", "file_sha256"])
        status = {i: r["status"] for i, r in rows.items()}
        damaged: list[int] = []
        for i in sorted(finished):
            if not intact(result_path(d, i), rows.get(i) if status.get(i) == "ok" else None):
                self._set_aside(i)
                damaged.append(i)
                status.pop(i, None)
        finished -= set(damaged)
        failed: set[int] = set()
        for i, st in status.items():
            if i in finished:
                continue
            if st == "ok":                                  # a result deleted by hand: run it again
                row_path(d, i).unlink(missing_ok=True)
            elif i in planned:
                failed.add(i)
        repaired = 0
        for i in sorted(finished):
            if status.get(i) != "ok":                       # killed between the two renames
                path = result_path(d, i)
                row = json.loads((pq.read_schema(path).metadata or {})[META_KEY])
                row.update(file_checksum(path.read_bytes()))
                atomic_write(row_path(d, i), encode_row(row, self.types), self.durable)
                repaired += 1
        return {"finished": finished, "failed": failed, "repaired": repaired, "damaged": damaged}

    def _set_aside(self, run: int) -> None:
        """Move a damaged result file to `_sweep/damaged/` (kept, not deleted) and drop its row."""
        target = self.directory / DAMAGED_DIR
        target.mkdir(parents=True, exist_ok=True)
        n = len(list(target.glob(f"run-{run:06d}.parquet*")))
        os.replace(result_path(self.directory, run), target / f"run-{run:06d}.parquet.{n}")
        row_path(self.directory, run).unlink(missing_ok=True)

    # writing -----------------------------------------------------------------------------------
    def write_result(self, run: int, payload: bytes) -> Path:
        """Store one finished run's Parquet bytes under its final name, atomically."""
        path = result_path(self.directory, run)
        atomic_write(path, payload, self.durable)
        return path

    def write_row(self, row: dict[str, Any]) -> None:
        """Store one run-table row (replacing an earlier row of the same run), atomically."""
        atomic_write(row_path(self.directory, int(row["run"])), encode_row(row, self.types), self.durable)

    def finish(self, report: dict[str, Any]) -> None:
        """Record the outcome of this session of the sweep in `_sweep.json`."""
        path = self.directory / SWEEP_FILE
        info = json.loads(path.read_text())
        info.setdefault("sessions", []).append(report)
        atomic_write(path, json.dumps(info, indent=2, ensure_ascii=False, default=str).encode(), self.durable)


def read_rows(directory: Path, columns: list[str]) -> dict[int, dict[str, Any]]:
    """`{run: {column: value}}` of every run-table row in a sweep folder (missing columns are None)."""
    files = sorted(str(p) for p in (Path(directory) / RUNS_DIR).glob(f"run-*{ROW_SUFFIX}"))
    if not files:
        return {}
    t = _arrow_table(_read(files)).to_pylist()
    return {r["run"]: {c: r.get(c) for c in columns} for r in t}


def read_statuses(directory: Path) -> dict[int, str]:
    """`{run: status}` of every run-table row in a sweep folder."""
    return {i: r["status"] for i, r in read_rows(directory, ["status"]).items()}


def file_checksum(payload: bytes) -> dict[str, Any]:
    """What the run table records of a result file: its size and SHA-256."""
    return {"file_bytes": len(payload), "file_sha256": hashlib.sha256(payload).hexdigest()}


def intact(path: Path, row: dict[str, Any] | None) -> bool:
    """Is a result file whole? Checked against its run-table row's size and SHA-256 when it has
    them, else by reading the file through (a row lost to a kill, or a sweep from before checksums)."""
    try:
        if row is not None and row.get("file_sha256"):
            data = path.read_bytes()
            return len(data) == row["file_bytes"] and hashlib.sha256(data).hexdigest() == row["file_sha256"]
        pq.read_table(path)
        json.loads((pq.read_schema(path).metadata or {})[META_KEY])
        return True
    except (OSError, ValueError, KeyError, pa.ArrowException):
        return False


def _check_same_posterior(directory: Path, previous: dict[str, Any], plan) -> None:
    """Refuse to resume a sweep with other posterior draws than it started with (or with or without one)."""
    before = previous.get("posterior") or None
    now = getattr(plan, "posterior", None)
    if (before or {}).get("sha256") == (now.sha256 if now is not None else None):
        return

    def what(info: dict[str, Any] | None) -> str:
        return "no posterior" if not info else f"the posterior {info.get('file')} (particles sha256 " \
                                                f"{str(info.get('sha256'))[:12]}…)"

    raise ScenarioError(directory, "--posterior", f"this sweep was started with {what(before)} and this command "
                        f"gives {what(now.describe() if now is not None else None)}; a resumed sweep must use the "
                        "same draws. Give the same posterior (same particles), or choose another --out")


def _check_not_locked(directory: Path) -> None:
    """Refuse at once (before any worker starts) when another sweep holds the folder's lock."""
    from filelock import FileLock, Timeout

    if not (directory / LOCK_FILE).exists():
        return
    lock = FileLock(directory / LOCK_FILE, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ScenarioError(directory, "", f"another sweep is writing to this folder ({_owner(directory)})") from None
    except OSError:
        return   # a read-only folder: opening it reports that
    lock.release()


def _owner(directory: Path) -> str:
    try:
        return (directory / LOCK_OWNER_FILE).read_text().strip()
    except OSError:
        return "owner unknown"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _code_version() -> str:
    from experiments.provenance import code_version

    return code_version()


# --- reading -------------------------------------------------------------------------------------
def _check_dir(directory: Path) -> None:
    if not (directory / SWEEP_FILE).is_file():
        raise ScenarioError(directory, "", f"not a sweep folder ({SWEEP_FILE} not found)")


def _read(files: list[str], columns: list[str] | None = None, where: str = "", params: list | None = None) -> pa.Table:
    """Many Parquet files of one schema as one Arrow table (DuckDB reads thousands of small files fast).

    A file that cannot be read is named in a ScenarioError (running the sweep again re-runs it).
    """
    import duckdb

    cols = ", ".join(f'"{c}"' for c in columns) if columns else "*"
    con = duckdb.connect()
    try:
        con.execute("SET threads TO 2")
        try:
            result = con.sql(f"SELECT {cols} FROM read_parquet($files, union_by_name = true) {where}",
                             params={"files": files, **dict(params or {})})
            for method in ("to_arrow_table", "fetch_arrow_table", "arrow"):   # across DuckDB versions
                if hasattr(result, method):
                    return getattr(result, method)()
        except duckdb.Error as exc:
            bad = next((f for f in files if not intact(Path(f), None)), None)
            if bad is None:
                raise
            raise ScenarioError(bad, "", f"damaged or truncated Parquet file ({str(exc).splitlines()[0]}); "
                                "run the sweep again to re-run it") from None
        raise RuntimeError("this DuckDB cannot return Arrow tables")
    finally:
        con.close()


def _arrow_table(table) -> pa.Table:
    return table.read_all() if isinstance(table, pa.RecordBatchReader) else table


def load(directory: str | Path, output: str | list[str] | None = None, variables: list[str] | None = None,
         columns: list[str] | None = None) -> pd.DataFrame:
    """All finished runs of a sweep as one tidy DataFrame.

    Columns: run, point, rep, seed, one column per varied parameter (its dotted name), output,
    step, date, year, region, variable, value. `output` ('time_series', 'yearly', 'summary' or a
    list) and `variables` filter rows while reading; `columns` selects columns.
    Failed or not yet finished runs have no rows (see `load_runs`).
    """
    directory = Path(directory)
    _check_dir(directory)
    files = sorted(str(p) for p in directory.glob("run-*.parquet") if _run_id(p) is not None)
    if not files:
        info = json.loads((directory / SWEEP_FILE).read_text())
        design = pq.read_schema(directory / DESIGN_FILE)
        params = [design.field(n) if n in design.names else pa.field(n, pa.string()) for n in parameter_columns(info)]
        df = pa.schema(ID_FIELDS + params + RESULT_FIELDS).empty_table().to_pandas()
        return df[columns] if columns else df
    clauses, values = [], {}
    if output is not None:
        clauses.append("output IN (SELECT unnest($outputs))")
        values["outputs"] = [output] if isinstance(output, str) else list(output)
    if variables is not None:
        clauses.append("variable IN (SELECT unnest($variables))")
        values["variables"] = list(variables)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    df = _arrow_table(_read(files, columns, where, list(values.items()))).to_pandas()
    for name, dtype in (("step", "Int32"), ("year", "Int16"), ("region", "Int16"), ("date", "datetime64[ms]"),
                        ("output", "category"), ("variable", "category")):
        if name in df.columns:
            df[name] = df[name].astype(dtype)
    order = [c for c in ("run", "output", "step", "year", "region") if c in df.columns]
    return df.sort_values(order, kind="stable").reset_index(drop=True)


def load_runs(directory: str | Path) -> pd.DataFrame:
    """The run table: every planned run with its status (ok, failed or pending) and provenance."""
    directory = Path(directory)
    _check_dir(directory)
    design = pq.read_table(directory / DESIGN_FILE).to_pandas()
    design = design.drop(columns=[c for c in design.columns if c.startswith("unit.")])
    files = sorted(str(p) for p in (directory / RUNS_DIR).glob(f"run-*{ROW_SUFFIX}"))
    if files:
        rows = _arrow_table(_read(files)).to_pandas()
        extra = [c for c in rows.columns if c not in design.columns or c == "run"]
        df = design.merge(rows[extra], on="run", how="left")
    else:
        df = design.assign(**{f.name: None for f in ROW_FIELDS})
    df["status"] = df["status"].fillna("pending")
    return df.sort_values("run").reset_index(drop=True)


def load_summary(directory: str | Path) -> pd.DataFrame:
    """Run-level outcomes, wide: one row per finished run, parameters (and a posterior's draw and
    values, `parameter_columns`) then one column per outcome."""
    df = load(directory, output="summary")
    info = json.loads((Path(directory) / SWEEP_FILE).read_text())
    params = [p for p in parameter_columns(info) if p in df.columns]
    wide = df.pivot_table(index=["run", "point", "rep", "seed", *params], columns="variable", values="value",
                          observed=True, aggfunc="first")
    wide.columns = [str(c) for c in wide.columns]
    return wide.reset_index().sort_values("run").reset_index(drop=True)


def parameter_columns(info: dict[str, Any]) -> list[str]:
    """The parameter columns of a sweep's runs (its `sweep.json`): the varied parameters, then, with a
    posterior, ``draw`` and the posterior's parameters."""
    posterior = info.get("posterior") or {}
    drawn = ["draw", *posterior.get("parameters", [])] if posterior else []
    return [*info.get("parameters", []), *drawn]


def sweep_info(directory: str | Path) -> dict[str, Any]:
    """The sweep's description (`_sweep.json`)."""
    directory = Path(directory)
    _check_dir(directory)
    return json.loads((directory / SWEEP_FILE).read_text())
