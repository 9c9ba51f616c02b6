"""Calibration targets (較正目標): the official figures and what the model says about each of them.

`load_targets()` reads `scenarios/data/calibration_targets.csv` (a copy of the project's shared
target list; see docs/calibration.md). `compare(model)` returns one row per target the model can
produce; `not_comparable(model)` lists the others with the reason. `run_for_targets()` runs a
model and keeps the person-array snapshots the comparison needs (the arrays are overwritten as the
model steps, so flows by home × target kind at 2020-09 can only be read while the model is there).

    uv run python -m experiments.targets [--people-per-agent N] [--seed S] [--horizon-years Y]

Model ↔ survey mapping used throughout: MLIT's visiting-type 関係人口 (訪問系) is the model's
ENGAGED + DUAL (関係人口 + 二地域居住); "metro" is the three metropolitan areas (三大都市圏) as
marked in `scenarios/data/prefectures.csv`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model import RelationModel, load_scenario
from model.paths import scenarios_dir
from model.stages import EngagementType, Flow, Stage

TARGETS_PATH = scenarios_dir() / "data" / "calibration_targets.csv"
TARGET_COLUMNS = ("target_id", "quantity", "population", "period", "value", "unit", "source", "note")
VISITING = (Stage.ENGAGED, Stage.DUAL)  # the model's counterpart of MLIT's 訪問系
TYPE_TARGETS = {
    "mlit2019_type_hobby_consumption": EngagementType.HOBBY_CONSUMPTION,
    "mlit2019_type_participation": EngagementType.PARTICIPATION,
    "mlit2019_type_work": EngagementType.WORK,
    "mlit2019_type_direct_contribution": EngagementType.DIRECT_CONTRIBUTION,
}
TYPE_TOTAL_ID = "mlit2019_visiting_share_metro"  # the 23.2% the 2019 type shares add up to
SURVEY_2020 = "2020-09"
TOKYO_NET_PREFIX = "tokyo_area_net_inmigration_"
URBAN_TO_RURAL_ID = "urban_to_rural_migrants_per_year"
MUNICIPALITIES_ID = "municipalities_working_on_kankei_fy2021"

# targets the model cannot produce whatever its horizon, and why
STRUCTURAL_GAPS = {
    TYPE_TOTAL_ID: "2019-09 is before the model's start (2020-04); MLIT refined the definition in 2020 "
                   "and the model is initialised from the 2020 shares. Used only to renormalise the "
                   "2019 type shares.",
    "relocation_grant_cases_fy2023": "the baseline runs no relocation-grant (移住支援金) lever, so it pays no "
                                     "grants; cases also need Tokyo's 23 wards (the model has Tokyo prefecture) "
                                     "and grant take-up.",
    "relocation_grant_persons_fy2023": "as for the cases: no 移住支援金 in the baseline (a scenario with the "
                                       "grant reports persons per household case: relocation_grant_persons).",
}

COMPARE_COLUMNS = ["target_id", "quantity", "period", "observed", "model", "unit", "error",
                   "relative_error", "how"]


def load_targets(path: str | Path | None = None) -> pd.DataFrame:
    """The calibration targets, one row per target (default: `scenarios/data/calibration_targets.csv`)."""
    path = Path(path) if path is not None else TARGETS_PATH
    df = pd.read_csv(path, dtype={"period": str})
    missing = [c for c in TARGET_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {list(TARGET_COLUMNS)}")
    if df["target_id"].duplicated().any():
        raise ValueError(f"{path}: duplicate target_id {df.loc[df['target_id'].duplicated(), 'target_id'].tolist()}")
    df["value"] = pd.to_numeric(df["value"])
    return df


# --- snapshots of the person arrays ----------------------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    """Copies of the person arrays the targets need, taken at one step."""

    step: int
    date: pd.Timestamp
    stage: np.ndarray
    etype: np.ndarray
    home: np.ndarray
    target: np.ndarray
    is_metro: np.ndarray  # by region index
    scale: float          # people per simulated person

    @classmethod
    def of(cls, model: RelationModel) -> "Snapshot":
        """The model's people as they are now (after `model.history.last` steps)."""
        p = model.people
        n = p.n
        step = int(model.history.last)
        return cls(step=step, date=model.dates[step], stage=p.stage[:n].copy(), etype=p.etype[:n].copy(),
                   home=p.home[:n].copy(), target=p.target[:n].copy(),
                   is_metro=model.table.is_metro.copy(), scale=float(model.scale.people(1.0)))


def _live(model: RelationModel) -> Snapshot:
    """A snapshot view of the live arrays (no copies; read at once)."""
    p = model.people
    n = p.n
    step = int(model.history.last)
    return Snapshot(step=step, date=model.dates[step], stage=p.stage[:n], etype=p.etype[:n], home=p.home[:n],
                    target=p.target[:n], is_metro=model.table.is_metro, scale=float(model.scale.people(1.0)))


def flow_matrix(source: RelationModel | Snapshot) -> pd.DataFrame:
    """Visiting-type 関係人口 (ENGAGED + DUAL) by home kind (rows) × target kind (columns), real people.

    Metro → metro includes people related to another metro prefecture (e.g. Tokyo → Kanagawa or
    Tokyo → Osaka); a target is never the home prefecture itself.
    """
    snap = _live(source) if isinstance(source, RelationModel) else source
    sel = np.isin(snap.stage, [int(s) for s in VISITING])
    home_metro = snap.is_metro[snap.home[sel]]
    target_metro = snap.is_metro[snap.target[sel]]
    out = pd.DataFrame(0.0, index=pd.Index(["metro", "rural"], name="home"),
                       columns=pd.Index(["metro", "rural"], name="target"))
    for h in (True, False):
        for t in (True, False):
            out.loc["metro" if h else "rural", "metro" if t else "rural"] = (
                float(np.count_nonzero((home_metro == h) & (target_metro == t))) * snap.scale)
    return out


def type_mix(snap: Snapshot, metro_only: bool = True) -> pd.Series:
    """Shares of the four MLIT types among ENGAGED + DUAL people (metro residents if `metro_only`)."""
    sel = np.isin(snap.stage, [int(s) for s in VISITING])
    if metro_only:
        sel &= snap.is_metro[snap.home]
    counts = np.bincount(snap.etype[sel], minlength=len(EngagementType))[1:].astype(float)
    total = counts.sum()
    shares = counts / total if total > 0 else np.full(len(counts), np.nan)
    return pd.Series(shares, index=[k.name for k in list(EngagementType)[1:]])


# --- a run that keeps what the targets need --------------------------------------------------------
@dataclass
class TargetRun:
    """A model run with the snapshots (`start`, `2020-09`) and per-step settler tallies."""

    model: RelationModel
    snapshots: dict[str, Snapshot] = field(default_factory=dict)
    settlers: pd.DataFrame | None = None  # step, date, origin_kind, dest_kind, people
    wall_seconds: float = 0.0

    def compare(self, targets: pd.DataFrame | None = None) -> pd.DataFrame:
        """`compare` on this run."""
        return compare(self, targets=targets)


def _settlers_this_step(model: RelationModel) -> list[tuple[bool, bool, int]]:
    """People who became SETTLED during the last step, by origin kind × destination kind."""
    p = model.people
    n = p.n
    new = (p.stage[:n] == Stage.SETTLED) & (p.steps_in_stage[:n] == 0)
    origin_metro = model.table.is_metro[p.origin[:n][new]]
    dest_metro = model.table.is_metro[p.home[:n][new]]
    return [(o, d, int(np.count_nonzero((origin_metro == o) & (dest_metro == d))))
            for o in (True, False) for d in (True, False)]


def run_for_targets(people_per_agent: float = 100, seed: int | None = None, horizon_years: float | None = None,
                    progress: Callable[[int], None] | None = None, **overrides: Any) -> TargetRun:
    """Run the baseline (with dotted `overrides`) to its horizon, snapshotting for the targets.

    Keeps the person arrays at the start and at the step nearest the 2020 MLIT survey (2020-09),
    and counts, each step, the people who settled by origin kind × destination kind (the flows
    table only has settlers by destination).
    """
    ov: dict[str, Any] = {"run.people_per_agent": people_per_agent, **overrides}
    if horizon_years is not None:
        ov["run.horizon_years"] = horizon_years
    scenario = load_scenario(overrides=ov)
    start = time.perf_counter()
    model = RelationModel(scenario=scenario, rng=seed)
    run = TargetRun(model=model)
    run.snapshots["start"] = Snapshot.of(model)
    s20 = survey_step(model, SURVEY_2020)
    if s20 == 0:
        run.snapshots[SURVEY_2020] = run.snapshots["start"]
    rows: list[tuple[int, bool, bool, int]] = []
    while model.running and model.history.last < model.n_steps:
        model.step()
        k = int(model.history.last)
        rows += [(k, o, d, c) for o, d, c in _settlers_this_step(model)]
        if k == s20:
            run.snapshots[SURVEY_2020] = Snapshot.of(model)
        if progress is not None:
            progress(1)
    run.wall_seconds = time.perf_counter() - start
    df = pd.DataFrame(rows, columns=["step", "origin_metro", "dest_metro", "count"])
    df["date"] = model.dates[df["step"].to_numpy()]
    df["origin_kind"] = np.where(df["origin_metro"], "metro", "rural")
    df["dest_kind"] = np.where(df["dest_metro"], "metro", "rural")
    df["people"] = model.scale.people(df["count"].to_numpy(dtype=float))
    run.settlers = df[["step", "date", "origin_kind", "dest_kind", "people"]]
    return run


# --- reading dates off the model -----------------------------------------------------------------
def _period_date(period: str) -> pd.Timestamp:
    """Middle of a YYYY-MM month, as the reference date of a survey period."""
    return pd.Timestamp(f"{period}-01") + pd.Timedelta(days=14)


def step_nearest(model: RelationModel, period: str) -> int:
    """The step (over the whole horizon) whose date is nearest the middle of month `period` (YYYY-MM)."""
    when = _period_date(period)
    gaps = np.abs((model.dates - when).days.to_numpy())
    return int(np.argmin(gaps))


def _in_run(model: RelationModel, step: int) -> bool:
    return 0 <= step <= model.history.last


def survey_step(model: RelationModel, period: str) -> int | None:
    """`step_nearest`, or None when no step lies within one step length of the month's middle."""
    step = step_nearest(model, period)
    gap = abs((model.dates[step] - _period_date(period)).days)
    return step if gap <= 366 / model.config.run.steps_per_year else None


def calendar_year_steps(model: RelationModel, year: int) -> tuple[int, int] | None:
    """(s0, s1): the steps at the first date ≥ 1 Jan `year` and ≥ 1 Jan `year+1`; None if not both run."""
    dates = model.dates[: model.history.last + 1]
    s0 = np.flatnonzero(dates >= pd.Timestamp(f"{year}-01-01"))
    s1 = np.flatnonzero(dates >= pd.Timestamp(f"{year + 1}-01-01"))
    if s0.size == 0 or s1.size == 0 or model.dates[0] > pd.Timestamp(f"{year}-01-01"):
        return None
    return int(s0[0]), int(s1[0])


def _visiting_by_home(model: RelationModel, step: int) -> tuple[np.ndarray, np.ndarray]:
    """(visiting, adults) per home region at `step`, in real people (from the history tallies)."""
    by_home = model.history.people_by_home()[step]
    visiting = by_home[:, [int(s) for s in VISITING]].sum(axis=1)
    return visiting, by_home.sum(axis=1)


# --- the comparison --------------------------------------------------------------------------------
def tokyo_area_net_inmigration(model: RelationModel, year: int) -> dict[str, Any] | None:
    """Net adult in-migration to 東京圏 over calendar `year` (`RelationModel.net_migration`): Δ adults −
    new adults + deaths, split into general moves and the ladder's; None unless the run covers the year."""
    span = calendar_year_steps(model, year)
    if span is None:
        return None
    s0, s1 = span
    frame = model.net_migration()
    row = frame[(frame["year"] == year) & (frame["area"] == "東京圏") & frame["complete"]]
    if row.empty:
        return None
    r = row.iloc[0]
    return {"value": float(r["net"]), "general": float(r["general"]), "relationship": float(r["relationship"]),
            "from": model.dates[s0], "to": model.dates[s1]}


def _row(target: pd.Series, model_value: float, how: str, observed: float | None = None,
         unit: str | None = None) -> dict[str, Any]:
    obs = float(target["value"]) if observed is None else float(observed)
    err = model_value - obs
    return {"target_id": target["target_id"], "quantity": target["quantity"], "period": target["period"],
            "observed": obs, "model": float(model_value), "unit": unit or target["unit"], "error": err,
            "relative_error": err / obs if obs != 0 else np.nan, "how": how}


def _unpack(model: RelationModel | TargetRun) -> tuple[RelationModel, dict[str, Snapshot], pd.DataFrame | None]:
    if isinstance(model, TargetRun):
        return model.model, model.snapshots, model.settlers
    return model, {}, None


def _d(date: pd.Timestamp) -> str:
    return pd.Timestamp(date).strftime("%Y-%m-%d")


def compare(model: RelationModel | TargetRun, targets: pd.DataFrame | None = None,
            snapshots: dict[str, Snapshot] | None = None) -> pd.DataFrame:
    """One row per target the model can produce: observed, model value, error and how it was computed.

    Pass a `TargetRun` (from `run_for_targets`) for the exact comparison. With a bare model, stocks by
    home region come from the history tallies at the right step; what needs the person arrays (flows
    by home × target kind, the type mix of metro residents) is read at the model's current step, or
    from `snapshots` when given, and the `how` column says which date was used.
    """
    m, snaps, settlers = _unpack(model)
    snaps = {**snaps, **(snapshots or {})}
    targets = load_targets() if targets is None else targets
    by_id = targets.set_index("target_id", drop=False)
    rows: list[dict[str, Any]] = []
    metro = m.table.is_metro

    # MLIT 2020 shares, national count and flows, at the step nearest 2020-09
    s20 = survey_step(m, SURVEY_2020)
    if s20 is not None and _in_run(m, s20):
        visiting, adults = _visiting_by_home(m, s20)
        when = f"step {s20} ({_d(m.dates[s20])})"
        if "mlit2020_visiting_share_metro" in by_id.index:
            rows.append(_row(by_id.loc["mlit2020_visiting_share_metro"], visiting[metro].sum() / adults[metro].sum(),
                             f"ENGAGED+DUAL share of metro-resident adults at {when}; model ENGAGED+DUAL "
                             "compared with MLIT 訪問系"))
        if "mlit2020_visiting_share_nonmetro" in by_id.index:
            rows.append(_row(by_id.loc["mlit2020_visiting_share_nonmetro"],
                             visiting[~metro].sum() / adults[~metro].sum(),
                             f"ENGAGED+DUAL share of non-metro-resident adults at {when}; model ENGAGED+DUAL "
                             "compared with MLIT 訪問系"))
        if "mlit2020_visiting_count_national" in by_id.index:
            rows.append(_row(by_id.loc["mlit2020_visiting_count_national"], visiting.sum(),
                             f"ENGAGED+DUAL adults nationwide at {when} (model adults "
                             f"{adults.sum() / 1e6:.1f}M vs MLIT 106.15M)"))
        snap = snaps.get(SURVEY_2020)
        if snap is None or snap.step != s20:
            snap = _live(m)
        fm = flow_matrix(snap)
        at = f"step {snap.step} ({_d(snap.date)})"
        if snap.step != s20:
            at += f", NOT the survey step {s20}: the arrays had moved on"
        for tid, (h, t), words in (("mlit2020_flow_metro_to_other", ("metro", "rural"), "metro home → non-metro target"),
                                   ("mlit2020_flow_other_to_metro", ("rural", "metro"), "non-metro home → metro target")):
            if tid in by_id.index:
                rows.append(_row(by_id.loc[tid], fm.loc[h, t],
                                 f"ENGAGED+DUAL with {words}, person arrays at {at}"))

    # MLIT 2019 type mix, renormalised to shares of 訪問系
    type_ids = [tid for tid in TYPE_TARGETS if tid in by_id.index]
    if type_ids:
        total = (float(by_id.loc[TYPE_TOTAL_ID, "value"]) if TYPE_TOTAL_ID in by_id.index
                 else float(sum(by_id.loc[tid, "value"] for tid in type_ids)))
        snap = snaps.get("start")
        if snap is not None and snap.step == 0:
            mix = type_mix(snap, metro_only=True)
            where = "metro residents' ENGAGED+DUAL by type at step 0 (" + _d(snap.date) + ")"
        elif m.history.last == 0:
            mix = type_mix(_live(m), metro_only=True)
            where = "metro residents' ENGAGED+DUAL by type at step 0 (" + _d(m.dates[0]) + ")"
        else:  # the arrays have moved on: the step-0 tallies by target region, all homes
            cube = m.history.by_target[0][:, [int(s) for s in VISITING], 1:].sum(axis=(0, 1)).astype(float)
            mix = pd.Series(cube / cube.sum(), index=[k.name for k in list(EngagementType)[1:]])
            where = ("ALL residents' ENGAGED+DUAL by type at step 0 (" + _d(m.dates[0]) +
                     "; no step-0 snapshot, so not metro residents only)")
        for tid in type_ids:
            t = by_id.loc[tid]
            k = TYPE_TARGETS[tid]
            rows.append(_row(t, float(mix[k.name]),
                             f"{where}; observed = {t['value']:.3f}/{total:.3f} (2019 share of adults ÷ "
                             "2019 訪問系 total)", observed=float(t["value"]) / total, unit="share of 訪問系"))

    # 東京圏 net in-migration, calendar years
    for tid in by_id.index:
        if not tid.startswith(TOKYO_NET_PREFIX):
            continue
        year = int(by_id.loc[tid, "period"])
        net = tokyo_area_net_inmigration(m, year)
        if net is None:
            continue
        rows.append(_row(by_id.loc[tid], net["value"],
                         f"calendar {year} ({_d(net['from'])}→{_d(net['to'])}), codes 11-14: general moves "
                         f"{net['general']:+,.0f}, relationship ladder {net['relationship']:+,.0f}; "
                         "model counts adults 18+ only, target is all ages"))

    # urban → rural migrants (an upper bound in the source)
    if URBAN_TO_RURAL_ID in by_id.index:
        t = by_id.loc[URBAN_TO_RURAL_ID]
        year = int(t["period"])
        span = calendar_year_steps(m, year)
        if span is not None:
            s0, s1 = span
            if settlers is not None:
                sel = ((settlers["step"] > s0) & (settlers["step"] <= s1) & (settlers["origin_kind"] == "metro")
                       & (settlers["dest_kind"] == "rural"))
                value = float(settlers.loc[sel, "people"].sum())
                what = "SETTLE moves metro home → rural prefecture"
            else:
                fl = m.flows()
                rural_codes = m.table.codes[~metro]
                sel = ((fl["flow"] == Flow.SETTLE.name) & fl["region"].isin(rural_codes)
                       & (fl["step"] > s0) & (fl["step"] <= s1))
                value = float(fl.loc[sel, "people"].sum())
                what = "SETTLE moves into rural prefectures from ANY home (no per-step settler tally)"
            rows.append(_row(t, value, f"{what}, calendar {year} ({_d(m.dates[s0])}→{_d(m.dates[s1])}); "
                                       "relationship-driven moves only; observed is a rough upper bound"))

    # municipalities running 関係人口 programmes (when the model has municipal adoption)
    if MUNICIPALITIES_ID in by_id.index:
        t = by_id.loc[MUNICIPALITIES_ID]
        fy = int(str(t["period"]).removeprefix("FY"))
        end = pd.Timestamp(f"{fy + 1}-04-01")
        if m.dates[0] < end <= m.dates[m.history.last]:
            mb = m.municipalities_by_fiscal_year().set_index("fiscal_year")["municipalities"]
            total = int(m.table.municipalities.sum()) if getattr(m.table, "municipalities", None) is not None else None
            rows.append(_row(t, float(mb.loc[fy]),
                             f"adopting municipalities at the end of FY{fy} (state on {_d(end)}), of "
                             f"{total if total is not None else '?'} in the model; the survey counts 1261 of the "
                             "1723 that answered (of 1741)"))

    out = pd.DataFrame(rows, columns=COMPARE_COLUMNS)
    order = {tid: i for i, tid in enumerate(targets["target_id"])}
    return out.sort_values("target_id", key=lambda s: s.map(order)).reset_index(drop=True)


def not_comparable(model: RelationModel | TargetRun | None = None,
                   targets: pd.DataFrame | None = None) -> pd.DataFrame:
    """Targets the model cannot produce (yet), with the reason: target_id, quantity, period, observed, unit, reason.

    Without a model, only the structural gaps; with one, also targets outside its simulated dates.
    """
    targets = load_targets() if targets is None else targets
    produced: set[str] = set()
    m = None
    if model is not None:
        m, _, _ = _unpack(model)
        produced = set(compare(model, targets=targets)["target_id"])
    rows = []
    for _, t in targets.iterrows():
        tid = t["target_id"]
        if tid in produced:
            continue
        if tid == MUNICIPALITIES_ID:
            if m is None:
                continue
            reason = (f"period {t['period']} does not end inside the simulated dates {_d(m.dates[0])} – "
                      f"{_d(m.dates[m.history.last])}")
        elif tid in STRUCTURAL_GAPS:
            reason = STRUCTURAL_GAPS[tid]
        elif m is None:
            continue
        else:
            first, last = _d(m.dates[0]), _d(m.dates[m.history.last])
            reason = f"period {t['period']} is outside the simulated dates {first} – {last}"
            if tid.startswith(TOKYO_NET_PREFIX):
                reason += " (calendar-year net migration needs 1 Jan of the year and of the next inside the run)"
        rows.append({"target_id": tid, "quantity": t["quantity"], "period": t["period"], "observed": t["value"],
                     "unit": t["unit"], "reason": reason})
    return pd.DataFrame(rows, columns=["target_id", "quantity", "period", "observed", "unit", "reason"])


def diagnostics(model: RelationModel) -> pd.DataFrame:
    """Hand-tuning checks: national stocks at the start and the end, yearly deaths and new adults."""
    h = model.history
    last = h.last
    by_home, flow_cube = h.people_by_home(), h.people_flows()
    rows = []
    for s in (Stage.NONE, Stage.VISITOR, Stage.ENGAGED, Stage.DUAL, Stage.SETTLED):
        rows.append((f"{s.name} ({s.ja})", by_home[0][:, s].sum(), by_home[last][:, s].sum()))
    rows.append(("adults (成人)", by_home[0].sum(), by_home[last].sum()))
    years = (model.dates[last] - model.dates[0]).days / 365.2425
    flows = flow_cube[1: last + 1].sum(axis=(0, 1))
    first_year = flow_cube[1: min(last, 12) + 1].sum(axis=(0, 1)) * (12 / max(min(last, 12), 1))
    for f in (Flow.DEATH, Flow.NEW_ADULT, Flow.SETTLE, Flow.MIGRATE):
        rows.append((f"{f.name.lower()} per year (first 12 steps / whole run)", first_year[f], flows[f] / years))
    df = pd.DataFrame(rows, columns=["quantity", "start", "end"])
    return df.set_index("quantity")


def _format(df: pd.DataFrame) -> str:
    def num(x: float) -> str:
        if pd.isna(x):
            return ""
        return f"{x:.3f}" if abs(x) < 10 else f"{x:,.0f}"
    show = df.copy()
    for col in ("observed", "model", "error"):
        show[col] = show[col].map(num)
    show["relative_error"] = show["relative_error"].map(lambda x: "" if pd.isna(x) else f"{x:+.1%}")
    return show.drop(columns=["quantity"]).to_string(index=False, max_colwidth=200)


def main(argv: list[str] | None = None) -> int:
    """Run the baseline and print the target comparison."""
    parser = argparse.ArgumentParser(prog="python -m experiments.targets",
                                     description="Run the baseline and compare it with the calibration targets.")
    parser.add_argument("--people-per-agent", type=float, default=100.0, metavar="N",
                        help="real adults per simulated person (default 100, ~1.05M agents, 5-10 s)")
    parser.add_argument("--seed", type=int, default=None, metavar="S",
                        help="model seed (default: the scenario's run.seed)")
    parser.add_argument("--horizon-years", type=float, default=None, metavar="Y",
                        help="years simulated (default: the scenario's, 15)")
    args = parser.parse_args(argv)
    run = run_for_targets(people_per_agent=args.people_per_agent, seed=args.seed, horizon_years=args.horizon_years)
    m = run.model
    pd.set_option("display.width", 250)
    print(f"Kankei baseline vs calibration targets ({TARGETS_PATH})")
    print(f"people_per_agent={m.people_per_agent:g}  seed={m._seed}  steps={m.history.last} "
          f"({_d(m.dates[0])} → {_d(m.dates[m.history.last])})  person slots={m.n_people:,} (living + dead)  "
          f"wall={run.wall_seconds:.1f}s\n")
    print("Comparable targets (error = model − observed):")
    print(_format(run.compare()))
    print("\nNot yet comparable:")
    nc = not_comparable(run)
    nc["observed"] = nc["observed"].map(lambda x: f"{x:.3f}" if abs(x) < 10 else f"{x:,.0f}")
    print(nc[["target_id", "period", "observed", "unit", "reason"]].to_string(index=False, max_colwidth=200))
    print("\nFlows at the 2020 survey step, ENGAGED+DUAL by home kind × target kind (people):")
    if SURVEY_2020 in run.snapshots:
        print(flow_matrix(run.snapshots[SURVEY_2020]).map(lambda x: f"{x:,.0f}").to_string())
    else:
        print("(no step near 2020-09 in this run)")
    print("\nDiagnostics (national, people):")
    print(diagnostics(m).map(lambda x: f"{x:,.0f}").to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
