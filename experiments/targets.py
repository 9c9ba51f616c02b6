"""Calibration targets as data (データとしての較正目標): each row of a targets CSV names a model output,
its filters, a statistic and a window in the small vocabulary below, so a new figure of a supported
kind needs no code.

A targets file has the shared columns (target_id, quantity, population, period, value, unit, source,
note) and five mapping columns:

- `output`: one of `OUTPUTS` (or `none`, for a figure the model cannot produce; then `mapping_note`
  says why);
- `filters`: `key=V1|V2;key2=V3` with keys and values from the output's vocabulary (empty: all);
- `statistic`: `count`/`sum`, `share:KEYS` (the filtered total over the same total with the filters on
  KEYS dropped, e.g. `share:stage` is a share of all adults), `per_year`, or the output's own;
- `window`: when the model measures it: `YYYY-MM` (a survey month: the step boundary nearest its
  middle), `YYYY` (a calendar year), `FYyyyy` or `FYyyyy-FYyyyy` (fiscal years, 年度);
- `rel_sd`: the figure's stated precision as a relative standard deviation (weights the distance
  in calibration).

An optional column `use` says what a mapped row is for: `fit` (the default: calibration fits it and
validation compares it) or `check` (validation compares it, calibration leaves it out: a figure the
scenario's inputs fix, or one the model cannot produce for a reason its mapping_note gives).

`load_targets(path)` refuses a bad row (unknown output, filter, value, statistic or window) with the
file, row and allowed values (`TargetsError`). `observe(frames, targets)` gives the model's value of
every target from one run's tidy frames (`RunFrames.of(model)`); a target whose window lies outside
the run is NaN with the reason in `reason`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from model.errors import ScenarioError
from model.levers.base import LEDGER
from model.levers.registry import LEVER_SPECS
from model.migration import AREAS
from model.paths import scenarios_dir
from model.relation_model import fiscal_years
from model.stages import EngagementType, Flow, Stage
from model.surveys import HOME_KINDS, VISIT_DAY_LABELS, Destination

TARGETS_PATH = scenarios_dir() / "data" / "calibration_targets.csv"
SHARED_COLUMNS = ("target_id", "quantity", "population", "period", "value", "unit", "source", "note")
MAPPING_COLUMNS = ("output", "filters", "statistic", "window", "rel_sd", "mapping_note")
USES = ("fit", "check")            # the optional `use` column
STAGES = tuple(s.name for s in Stage if s != Stage.DEAD)
TYPES = tuple(k.name for k in EngagementType)
AREA_NAMES = tuple(dict.fromkeys(AREAS.values()))
LEVER_KINDS = tuple(LEVER_SPECS)
LEDGER_ITEMS = tuple(item.name for item in LEDGER)
SPENDING_ITEMS = ("programme", *(item.name for item in LEDGER if item.payer is not None))
_WINDOW = {"month": re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$"), "year": re.compile(r"^(\d{4})$"),
           "fiscal": re.compile(r"^FY(\d{4})(?:-FY(\d{4}))?$")}


class TargetsError(ScenarioError):
    """A targets file that cannot be used: names the file, the row (its line number), the column and
    what is allowed. The CLI reports it as a user error (exit status 2)."""

    def __init__(self, path: str | Path, row: int | None, column: str, message: str) -> None:
        self.path, self.row, self.column = str(path), row, column
        where = ", ".join(([f"row {row}"] if row is not None else []) + ([f"column {column}"] if column else []))
        super().__init__(path, where, message)


@dataclass(frozen=True)
class Output:
    """One kind of model output a target can name: the tidy frame it reads and its vocabulary."""

    name: str
    frame: str                                   # attribute of RunFrames
    value: str                                   # column summed
    filters: dict[str, tuple[str, ...] | None]   # key → allowed values (None: any text)
    windows: tuple[str, ...]                     # "month", "year", "fiscal"
    statistics: tuple[str, ...]                  # besides share:KEYS where "share" is listed
    description: str


OUTPUTS: dict[str, Output] = {o.name: o for o in (
    Output("stock", "stocks", "people", {"stage": STAGES, "home_kind": HOME_KINDS, "area": AREA_NAMES},
           ("month",), ("count", "share"), "living adults by stage where they live, at a survey month"),
    Output("destination", "destinations", "people",
           {"stage": STAGES, "home_kind": HOME_KINDS, "destination": tuple(d.name for d in Destination),
            "target_kind": HOME_KINDS},
           ("fiscal",), ("count", "share"), "related people by where their target lies, at a fiscal-year end"),
    Output("visit_days", "visit_days", "people",
           {"stage": STAGES, "type": TYPES, "home_kind": HOME_KINDS, "days": VISIT_DAY_LABELS,
            "full_year": ("true", "false")},
           ("fiscal",), ("count", "share"), "people by visit-days to their target over a fiscal year"),
    Output("net_migration", "net_migration", "net", {"area": AREA_NAMES}, ("year",),
           ("net", "general", "relationship"),
           "calendar-year net in-migration of adults by 三大都市圏 area (annualised if the run covers part)"),
    Output("flow", "flows", "people", {"flow": tuple(f.name for f in Flow), "home_kind": HOME_KINDS,
                                       "area": AREA_NAMES},
           ("year", "fiscal"), ("sum", "per_year"), "transitions, moves, deaths by region of the flow"),
    Output("retention", "retention", "settlers", {"years_after": ("1", "3", "5", "10")}, ("fiscal",),
           ("retention",), "share of settling cohorts' survivors still in their region"),
    Output("cohort", "cohorts", "people", {"programme": None, "stage": (*STAGES, "DEAD"),
                                           "years_since_entry": None},
           ("fiscal",), ("count", "share"), "programme members by stage at a fiscal-year end"),
    Output("lever", "lever_counts", "value", {"kind": LEVER_KINDS, "item": ("cases", "persons", "children", "trips",
                                                                      "days")},
           ("fiscal",), ("sum", "per_year"), "what the levers' spending paid for (cases, persons, …)"),
    Output("ledger", "ledger", "yen", {"kind": LEVER_KINDS, "item": LEDGER_ITEMS}, ("fiscal",), ("sum", "per_year"),
           "money the levers move besides spending (ふるさと納税 donations, deductions, gifts, …), yen"),
    Output("spending", "spending", "yen", {"kind": LEVER_KINDS, "payer": ("national", "prefecture", "municipality"),
                                           "item": SPENDING_ITEMS},
           ("fiscal",), ("sum", "per_year"), "public cost of the levers, yen"),
    Output("adoption", "adoption", "municipalities", {}, ("fiscal",), ("count", "share"),
           "municipalities running 関係人口 programmes at a fiscal-year end (share: of all municipalities)"),
)}


@dataclass(frozen=True)
class Window:
    kind: str              # month, year, fiscal
    first: int             # year or fiscal year; for a month, the year
    last: int
    month: int = 0

    @classmethod
    def parse(cls, text: str) -> "Window | None":
        text = text.strip()
        if m := _WINDOW["month"].match(text):
            return cls("month", int(m[1]), int(m[1]), int(m[2]))
        if m := _WINDOW["year"].match(text):
            return cls("year", int(m[1]), int(m[1]))
        if m := _WINDOW["fiscal"].match(text):
            first, last = int(m[1]), int(m[2] or m[1])
            return cls("fiscal", first, last) if last >= first else None
        return None

    @property
    def years(self) -> int:
        return self.last - self.first + 1

    def end(self) -> pd.Timestamp:
        """The first date after the window."""
        if self.kind == "month":
            return pd.Timestamp(self.first, self.month, 15)
        if self.kind == "year":
            return pd.Timestamp(self.last + 1, 1, 1)
        return pd.Timestamp(self.last + 1, 4, 1)


@dataclass(frozen=True)
class Target:
    """One validated row of a targets file."""

    target_id: str
    observed: float
    output: str
    filters: dict[str, tuple[str, ...]]
    statistic: str
    share_over: tuple[str, ...]
    window: Window | None
    rel_sd: float
    row: pd.Series = field(repr=False, compare=False)
    use: str = "fit"

    @property
    def mapped(self) -> bool:
        """Does the row name a model output (validation reads it)?"""
        return self.output != "none"

    @property
    def fitted(self) -> bool:
        """Does calibration fit it (mapped, and `use` is fit)?"""
        return self.mapped and self.use == "fit"

    @property
    def sd(self) -> float:
        """The absolute standard deviation the calibration's distance divides by."""
        return self.rel_sd * abs(self.observed)


def _parse_filters(text: str, out: Output, path: Path, row: int) -> dict[str, tuple[str, ...]]:
    filters: dict[str, tuple[str, ...]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, values = part.partition("=")
        key = key.strip()
        if not sep or not values.strip():
            raise TargetsError(path, row, "filters", f"{part!r} is not key=value (write e.g. stage=ENGAGED|DUAL)")
        if key not in out.filters:
            raise TargetsError(path, row, "filters", f"output {out.name} has no filter {key!r}; allowed: "
                               + (", ".join(out.filters) or "none"))
        chosen = tuple(v.strip() for v in values.split("|"))
        allowed = out.filters[key]
        bad = [v for v in chosen if allowed is not None and v not in allowed]
        if bad:
            raise TargetsError(path, row, "filters", f"{key}={'|'.join(bad)} is not allowed; {key} takes "
                               + ", ".join(allowed))
        filters[key] = chosen
    return filters


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value).strip()


def parse_target(row: pd.Series, path: Path, number: int) -> Target:
    """One targets row checked against the vocabulary (`number` is the file's line number)."""
    tid = _text(row["target_id"])
    try:
        observed = float(row["value"])
    except (TypeError, ValueError):
        raise TargetsError(path, number, "value", f"{row['value']!r} is not a number") from None
    if not math.isfinite(observed):
        raise TargetsError(path, number, "value", "must be a finite number (NaN and infinity are refused)")
    use = _text(row.get("use", "")) or "fit"
    if use not in USES:
        raise TargetsError(path, number, "use", f"{use!r} is not a use; allowed: {', '.join(USES)}")
    name = _text(row["output"])
    if name == "none":
        if not _text(row["mapping_note"]):
            raise TargetsError(path, number, "mapping_note", f"{tid}: output none needs a reason in mapping_note")
        return Target(tid, observed, "none", {}, "", (), None, math.nan, row)
    if name not in OUTPUTS:
        raise TargetsError(path, number, "output", f"{name!r} is not an output; allowed: "
                           + ", ".join([*OUTPUTS, "none"]))
    out = OUTPUTS[name]
    filters = _parse_filters(_text(row["filters"]), out, path, number)
    stat = _text(row["statistic"]) or out.statistics[0]
    share_over: tuple[str, ...] = ()
    plain_share = name == "adoption"      # a share of all municipalities, not over a filter
    allowed = [s if s != "share" or plain_share else "share:KEYS" for s in out.statistics]
    if stat.startswith("share:") and "share" in out.statistics and not plain_share:
        share_over = tuple(k.strip() for k in stat.split(":", 1)[1].split(","))
        missing = [k for k in share_over if k not in filters]
        if missing:
            raise TargetsError(path, number, "statistic", f"{stat}: a share is over filters the row sets; "
                               f"{', '.join(missing)} not among {', '.join(filters) or 'none'}")
        stat = "share"
    elif stat not in out.statistics or (stat == "share" and not plain_share):
        raise TargetsError(path, number, "statistic", f"{stat!r} is not a statistic of {name}; allowed: "
                           + ", ".join(allowed))
    window = Window.parse(_text(row["window"]))
    if window is None or window.kind not in out.windows:
        forms = {"month": "YYYY-MM", "year": "YYYY", "fiscal": "FYyyyy or FYyyyy-FYyyyy"}
        raise TargetsError(path, number, "window", f"{_text(row['window'])!r}: output {name} is measured over "
                           + " or ".join(forms[w] for w in out.windows))
    try:
        rel_sd = float(row["rel_sd"])
    except (TypeError, ValueError):
        rel_sd = math.nan
    if not (math.isfinite(rel_sd) and rel_sd > 0):
        raise TargetsError(path, number, "rel_sd", f"{row['rel_sd']!r}: a relative standard deviation > 0 is needed")
    if observed == 0:
        raise TargetsError(path, number, "value", "a fitted target needs a non-zero value (its precision is relative)")
    return Target(tid, observed, name, filters, stat, share_over, window, rel_sd, row, use)


@dataclass(frozen=True)
class TargetTable:
    """The validated targets of one file."""

    path: Path
    frame: pd.DataFrame           # the file as read
    targets: tuple[Target, ...]

    @property
    def fitted(self) -> tuple[Target, ...]:
        """The rows calibration fits."""
        return tuple(t for t in self.targets if t.fitted)

    def measurable(self, dates: pd.DatetimeIndex) -> tuple[Target, ...]:
        """The fitted targets a run over step boundaries `dates` can measure."""
        return tuple(t for t in self.fitted if coverage(dates, t) is None)


def load_targets(path: str | Path | None = None) -> TargetTable:
    """Read and validate a targets file (default: `scenarios/data/calibration_targets.csv`)."""
    path = Path(path) if path is not None else TARGETS_PATH
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise TargetsError(path, None, "", "no such file") from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise TargetsError(path, None, "", f"not a readable CSV file ({err})") from None
    missing = [c for c in (*SHARED_COLUMNS, *MAPPING_COLUMNS) if c not in frame.columns]
    if missing:
        raise TargetsError(path, None, ", ".join(missing), "missing column(s); a targets file has "
                           + ", ".join((*SHARED_COLUMNS, *MAPPING_COLUMNS)))
    seen: set[str] = set()
    targets = []
    for i, row in frame.iterrows():
        number = int(i) + 2    # the header is line 1
        tid = _text(row["target_id"])
        if not tid:
            raise TargetsError(path, number, "target_id", "empty")
        if tid in seen:
            raise TargetsError(path, number, "target_id", f"{tid} appears twice")
        seen.add(tid)
        targets.append(parse_target(row, path, number))
    if not any(t.mapped for t in targets):
        raise TargetsError(path, None, "output", "no row names a model output (every row is output none)")
    return TargetTable(path, frame, tuple(targets))


# --- one run's tidy frames ------------------------------------------------------------------------
@dataclass(frozen=True)
class RunFrames:
    """The tidy frames a run's targets are read from (real people and yen), and the run's dates."""

    dates: pd.DatetimeIndex        # step boundaries of the run
    municipalities: int
    stocks: pd.DataFrame           # step, date, home_kind, area, stage, people
    destinations: pd.DataFrame     # fiscal_year, home_kind, stage, destination, target_kind, people
    visit_days: pd.DataFrame       # fiscal_year, stage, type, home_kind, full_year, days, people
    net_migration: pd.DataFrame    # year, area, months, complete, net, general, relationship
    flows: pd.DataFrame            # year, fiscal_year, home_kind, area, flow, people
    retention: pd.DataFrame        # cohort_fiscal_year, years_after, settlers, left, died
    cohorts: pd.DataFrame          # fiscal_year, programme, years_since_entry, stage, people
    lever_counts: pd.DataFrame     # fiscal_year, kind, item, value
    ledger: pd.DataFrame           # fiscal_year, kind, item, yen
    spending: pd.DataFrame         # fiscal_year, kind, payer, item, yen
    adoption: pd.DataFrame         # fiscal_year, municipalities

    @classmethod
    def of(cls, model) -> "RunFrames":
        """The frames of a finished (or stopped) `RelationModel`."""
        table = model.table
        kinds = np.where(table.is_metro, "metro", "rural")
        areas = np.array([AREAS[a] for a in table.metro_areas])
        by_code = {int(c): i for i, c in enumerate(table.codes)}
        h = model.history
        cube = h.people_by_home()                             # (T+1, R, S)
        steps, regions, stages = np.meshgrid(np.arange(cube.shape[0]), np.arange(cube.shape[1]),
                                             np.arange(cube.shape[2]), indexing="ij")
        alive = stages.ravel() != int(Stage.DEAD)
        stocks = pd.DataFrame({"step": steps.ravel()[alive], "home_kind": kinds[regions.ravel()[alive]],
                               "area": areas[regions.ravel()[alive]],
                               "stage": np.array([s.name for s in Stage])[stages.ravel()[alive]],
                               "people": cube.ravel()[alive]})
        dest = model.destinations()
        home = np.array([by_code[int(c)] for c in dest["home"]], dtype=np.int64)
        dest = dest.assign(home_kind=kinds[home])
        same_pref = dest["destination"].astype(str) == Destination.SAME_PREFECTURE.name
        rural = dest["destination"].astype(str) == Destination.RURAL.name
        dest["target_kind"] = np.where(same_pref, dest["home_kind"], np.where(rural, "rural", "metro"))
        flows = model.flows()
        region = np.array([by_code[int(c)] for c in flows["region"]], dtype=np.int64)
        during = flows["date"] - pd.Timedelta(days=1)          # a step's flows happen in the step before
        flows = pd.DataFrame({"year": during.dt.year.to_numpy(), "fiscal_year": fiscal_years(during),
                              "home_kind": kinds[region], "area": areas[region],
                              "flow": flows["flow"].astype(str), "people": flows["people"]})
        cohorts = model.cohorts()
        cohorts = cohorts.assign(programme=cohorts["programme"].astype(str).str.replace(r"_\d+$", "", regex=True),
                                 stage=cohorts["stage"].astype(str),
                                 years_since_entry=cohorts["years_since_entry"].astype(str))
        ledger = h.ledger_frame()
        return cls(
            dates=model.dates[: h.last + 1], municipalities=int(table.municipalities.sum()),
            stocks=stocks, destinations=dest, visit_days=model.visit_days(), net_migration=model.net_migration(),
            flows=flows, retention=model.retention(), cohorts=cohorts,
            lever_counts=model.lever_counts(), ledger=ledger, spending=model.spending().assign(
                fiscal_year=lambda d: fiscal_years(d["date"] - pd.Timedelta(days=1))),
            adoption=model.municipalities_by_fiscal_year())


# --- reading a target off the frames ---------------------------------------------------------------
def _select(frame: pd.DataFrame, filters: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    keep = np.ones(len(frame), dtype=bool)
    for key, values in filters.items():
        column = frame[key]
        if column.dtype == bool:
            column = column.map({True: "true", False: "false"})
        keep &= column.astype(str).isin(values).to_numpy()
    return frame[keep]


def _fiscal_rows(frame: pd.DataFrame, window: Window, column: str = "fiscal_year") -> pd.DataFrame:
    return frame[(frame[column] >= window.first) & (frame[column] <= window.last)]


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


@dataclass(frozen=True)
class Reading:
    """The model's value of one target in one run, or NaN and the reason."""

    value: float
    how: str


def coverage(dates: pd.DatetimeIndex, t: Target) -> str | None:
    """Why a run over step boundaries `dates` cannot measure the target's window, or None if it can."""
    w = t.window
    start, stop = dates[0], dates[-1]
    if w.kind == "month":
        middle = pd.Timestamp(w.first, w.month, 15)
        gap = int(np.min(np.abs((dates - middle).days)))
        spacing = (dates[1] - dates[0]).days if len(dates) > 1 else 31
        return None if gap <= spacing else f"{w.first}-{w.month:02d} is outside the run ({start:%Y-%m} – {stop:%Y-%m})"
    first = pd.Timestamp(w.first, 1, 1) if w.kind == "year" else pd.Timestamp(w.first, 4, 1)
    if t.output == "net_migration" and w.end() > start:
        first = max(first, start)    # a partial first year is annualised (6 months or more)
    if first < start or w.end() > stop:
        label = f"{w.first}" if w.kind == "year" else f"FY{w.first}" + (f"–FY{w.last}" if w.years > 1 else "")
        return f"{label} is not inside the run ({start:%Y-%m-%d} → {stop:%Y-%m-%d})"
    return None


def _month_step(frames: RunFrames, w: Window) -> int:
    middle = pd.Timestamp(w.first, w.month, 15)
    return int(np.argmin(np.abs((frames.dates - middle).days)))


def read(frames: RunFrames, t: Target) -> Reading:
    """The model's value of target `t` in the run `frames` come from."""
    if not t.mapped:
        return Reading(math.nan, f"not mapped: {_text(t.row['mapping_note'])}")
    why = coverage(frames.dates, t)
    if why is not None:
        return Reading(math.nan, why)
    out = OUTPUTS[t.output]
    w = t.window
    frame = getattr(frames, out.frame)
    if t.output == "stock":
        step = _month_step(frames, w)
        frame = frame[frame["step"] == step]
        when = f"step {step} ({frames.dates[step]:%Y-%m-%d})"
    elif t.output == "net_migration":
        rows = _select(frame[frame["year"] == w.first], t.filters)
        months = int(rows["months"].iloc[0]) if len(rows) else 0
        if months < 6:
            return Reading(math.nan, f"the run covers {months} months of {w.first} (6 or more are needed)")
        value = float(rows[t.statistic].sum()) * 12 / months
        note = "" if months == 12 else f", annualised from {months} months"
        return Reading(value, f"{t.statistic} in-migration {w.first}{note}; adults only, the figure is all ages")
    elif t.output == "flow" and w.kind == "year":
        frame = frame[(frame["year"] >= w.first) & (frame["year"] <= w.last)]
        when = f"calendar {w.first}" + (f"–{w.last}" if w.years > 1 else "")
    elif t.output == "retention":
        frame = _fiscal_rows(frame, w, "cohort_fiscal_year")
        when = f"cohorts settling FY{w.first}" + (f"–FY{w.last}" if w.years > 1 else "")
    else:
        frame = _fiscal_rows(frame, w)
        when = f"FY{w.first}" + (f"–FY{w.last}" if w.years > 1 else "")
    rows = _select(frame, t.filters)
    if t.output == "retention":
        if rows.empty:
            return Reading(math.nan, f"no cohort of {when} is {t.filters.get('years_after', ('?',))[0]} years old "
                           "within the run")
        alive = float((rows["settlers"] - rows["died"]).sum())
        return Reading(_ratio(alive - float(rows["left"].sum()), alive), f"retention of {when}")
    total = float(rows[out.value].sum())
    if t.statistic == "share":
        if t.output == "adoption":
            return Reading(_ratio(total / w.years, frames.municipalities),
                           f"share of the model's {frames.municipalities} municipalities, {when}")
        wider = _select(frame, {k: v for k, v in t.filters.items() if k not in t.share_over})
        return Reading(_ratio(total, float(wider[out.value].sum())), f"share over {', '.join(t.share_over)}, {when}")
    if t.statistic == "per_year" or (t.output in ("adoption", "destination", "visit_days", "cohort")
                                      and w.years > 1):
        return Reading(total / w.years, f"per year, {when}")
    return Reading(total, when)


def observe(frames: RunFrames, targets: TargetTable) -> pd.DataFrame:
    """One row per target: target_id, observed, model, how (model is NaN where the run cannot say)."""
    rows = []
    for t in targets.targets:
        r = read(frames, t)
        rows.append({"target_id": t.target_id, "observed": t.observed, "model": r.value, "how": r.how})
    return pd.DataFrame(rows)
