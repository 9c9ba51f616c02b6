"""Run outputs (出力): per-step tallies kept as arrays and turned into tidy pandas frames."""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.kpis import KPI, KPI_NAMES
from model.levers.base import COUNTS, LEDGER, NET_REVENUE, PAYERS
from model.stages import N_FLOWS, N_STAGES, N_TYPES, EngagementType, Flow, Stage
from model.surveys import HOME_KINDS, VISIT_DAY_LABELS, Destination
from model.units import Scale

RETENTION_YEARS = (1, 3, 5, 10)   # years after settling at which a cohort's retention is reported
_TYPED = (Stage.ENGAGED, Stage.DUAL)


def net_migration_steps(by_home: np.ndarray, flows: np.ndarray) -> dict[str, np.ndarray]:
    """Net in-migration (転入超過) of each step and region, in the units of the arrays given.

    `by_home` (steps+1, R, stages) and `flows` (steps+1, R, flows); returns (steps, R) arrays, row k
    the step k → k+1:

    * net:          Δ adults − new adults + deaths (every change of home: general moves, settling,
                    leaving; exact, since people are conserved);
    * general_in, general_out: arrivals and departures of general moves (一般移動, `Flow.MIGRATE`);
    * general:      general_in − general_out;
    * relationship: net − general (the relationship ladder's moves: SETTLE in, settlers' origins out,
                    LEAVE and its arrivals).
    """
    adults = by_home.sum(axis=2)
    net = np.diff(adults, axis=0) - flows[1:, :, Flow.NEW_ADULT] + flows[1:, :, Flow.DEATH]
    gin = flows[1:, :, Flow.MIGRATE_ARRIVAL]
    gout = flows[1:, :, Flow.MIGRATE]
    return {"net": net, "general": gin - gout, "relationship": net - (gin - gout),
            "general_in": gin, "general_out": gout}


def calendar_year_spans(dates: pd.DatetimeIndex) -> list[tuple[int, int, int, bool]]:
    """(year, s0, s1, complete) per calendar year (暦年) of the steps k → k+1 whose first day falls in it:
    boundaries s0..s1, and whether they cover 1 January to 1 January (the first and last years of a
    run need not: a run from 2020-04 has 2020 from April only)."""
    first = dates[:-1]
    years = first.year.to_numpy()
    out = []
    for y in np.unique(years):
        idx = np.flatnonzero(years == y)
        s0, s1 = int(idx[0]), int(idx[-1]) + 1
        starts = s0 > 0 or dates[0] == pd.Timestamp(f"{y}-01-01")
        out.append((int(y), s0, s1, bool(starts and dates[s1].year > y)))
    return out


def net_migration_frame(by_home: np.ndarray, flows: np.ndarray, dates: pd.DatetimeIndex, codes: np.ndarray,
                        areas: list[str], by: str = "area") -> pd.DataFrame:
    """Calendar-year net in-migration (転入超過数), tidy: year, area or region, months, complete, net,
    general, relationship, general_in, general_out (units of the arrays given; see `net_migration_steps`).

    `by="area"` sums the regions of each 三大都市圏 area (moves within an area cancel), `by="region"` keeps
    each region (with its area). Summed over all regions, net is 0 every year (people are conserved).
    """
    if by not in ("area", "region"):
        raise ValueError(f"by must be 'area' or 'region', got {by!r}")
    steps = net_migration_steps(by_home, flows)
    columns = list(steps)
    rows = []
    labels = list(dict.fromkeys(areas))
    area_index = np.array([labels.index(a) for a in areas])
    for year, s0, s1, complete in calendar_year_spans(dates):
        months = int(round((dates[s1] - dates[s0]).days / (365.2425 / 12)))
        sums = {c: steps[c][s0:s1].sum(axis=0) for c in columns}          # (R,) each
        if by == "region":
            for r, code in enumerate(codes):
                rows.append((year, int(code), areas[r], months, complete, *(float(sums[c][r]) for c in columns)))
        else:
            for j, label in enumerate(labels):
                sel = area_index == j
                rows.append((year, label, months, complete, *(float(sums[c][sel].sum()) for c in columns)))
    keys = ["year", "region", "area"] if by == "region" else ["year", "area"]
    df = pd.DataFrame(rows, columns=[*keys, "months", "complete", *columns])
    df["area"] = pd.Categorical(df["area"], categories=labels)
    return df


class History:
    """Tallies for steps 0..n_steps: by report region, by home region, flows, visit-day distributions.

    Counts are stored in simulated persons and leave through the units boundary (`scale`): every
    frame and the `people_*` accessors are in real people. Spending, the ledger (money the levers
    move besides spending, `model.levers.base.LEDGER`) and revenue (its `net_revenue` item) are in yen.
    """

    def __init__(self, n_steps: int, n_regions: int, dates: pd.DatetimeIndex, codes: np.ndarray,
                 scale: Scale, lever_labels: list[str], lever_kinds: list[str],
                 payer_shares: np.ndarray, programme_labels: list[str] | None = None,
                 steps_per_year: int = 12) -> None:
        self.by_target = np.zeros((n_steps + 1, n_regions, N_STAGES, N_TYPES), dtype=np.int64)
        self.by_home = np.zeros((n_steps + 1, n_regions, N_STAGES), dtype=np.int64)
        self.flows = np.zeros((n_steps + 1, n_regions, N_FLOWS), dtype=np.int64)
        self.kpis = np.zeros((n_steps + 1, n_regions, len(KPI)))
        self.spending = np.zeros((n_steps + 1, len(lever_labels), n_regions))
        self.ledger = np.zeros((n_steps + 1, len(lever_labels), len(LEDGER), n_regions))
        self.counts = np.zeros((n_steps + 1, len(lever_labels), len(COUNTS), n_regions))
        self.programme_labels = list(programme_labels or [])
        n_prog = len(self.programme_labels)
        self.entries = np.zeros((n_steps + 1, n_prog, n_regions), dtype=np.int64)
        self.participants = np.zeros((n_steps + 1, n_prog, n_regions), dtype=np.int64)
        self.cohort_rows: list[tuple[int, int, int, int, int]] = []
        self.lever_labels = lever_labels
        self.lever_kinds = lever_kinds
        self.payer_shares = payer_shares
        self.visit_day_rows: list[tuple[int, str, str, str, bool, str, int]] = []
        self.destination_rows: list[tuple[int, int, str, str, int]] = []
        #: (steps, 2, settling step) settlers who left (0) or died (1) in each step, by the step they settled
        self.settler_exits = np.zeros((n_steps + 1, 2, n_steps + 1), dtype=np.int64)
        self.continuity_rows: list[tuple[int, int, float]] = []
        self.dates = dates
        self.steps_per_year = steps_per_year
        self.codes = codes
        self.scale = scale
        self.settlers_to_date = 0     # SETTLE flows so far, simulated persons
        self.last = 0

    def record(self, step: int, by_target: np.ndarray, by_home: np.ndarray, flows: np.ndarray,
               kpis: np.ndarray, spending: np.ndarray | None = None, revenue: np.ndarray | None = None,
               entries: np.ndarray | None = None, participants: np.ndarray | None = None,
               settler_exits: np.ndarray | None = None, counts: np.ndarray | None = None) -> None:
        """Store the tallies after `step` steps: spending (levers, R) in yen and `revenue`, either the
        ledger (levers, len(LEDGER), R) that `LeverSet.account` returns or the net revenue alone (levers, R);
        programme entries and participants per programme and host region; `counts` (levers,
        len(COUNTS), R) of what the spending paid for, in real units."""
        self.by_target[step] = by_target
        self.by_home[step] = by_home
        self.flows[step] = flows
        self.kpis[step] = kpis
        if step > 0:
            self.settlers_to_date += int(flows[:, Flow.SETTLE].sum())
        if spending is not None:
            self.spending[step] = spending
            if revenue.ndim == 3:
                self.ledger[step] = revenue
            else:
                self.ledger[step, :, NET_REVENUE] = revenue
        if counts is not None:
            self.counts[step] = counts
        if entries is not None and entries.size:
            self.entries[step] = entries
            self.participants[step] = participants
        if settler_exits is not None:
            self.settler_exits[step, :, : settler_exits.shape[1]] = settler_exits
        self.last = step

    def record_continuity(self, fiscal_year: int, counts: np.ndarray) -> None:
        """例2: people continuously engaged for 12 months or more at a fiscal-year end, by region."""
        for code, c in zip(self.codes, counts):
            self.continuity_rows.append((fiscal_year, int(code), float(self.scale.people(c))))

    def record_cohorts(self, fiscal_year: int, programme: np.ndarray, entry_year: np.ndarray,
                       stage: np.ndarray) -> None:
        """Programme members at a fiscal-year end by (programme slot, fiscal year of entry, stage now)."""
        if programme.size == 0:
            return
        keys = np.stack([programme.astype(np.int64), entry_year, stage.astype(np.int64)], axis=1)
        cells, counts = np.unique(keys, axis=0, return_counts=True)
        for (q, entered, s), c in zip(cells, counts):
            self.cohort_rows.append((fiscal_year, int(q), int(entered), int(s), int(c)))

    def record_visit_days(self, fiscal_year: int, bands: np.ndarray) -> None:
        """Distribution of visit-days over the fiscal year that just ended: `bands[stage, type, home
        kind, full year, band]` living simulated persons (`model.surveys.survey_tables`)."""
        for s in Stage:
            if s in (Stage.DEAD, Stage.NONE):
                continue
            for k, kind, full, b in np.argwhere(bands[s] > 0):
                self.visit_day_rows.append((fiscal_year, s.name, EngagementType(k).name, HOME_KINDS[kind],
                                            bool(full), VISIT_DAY_LABELS[b], int(bands[s, k, kind, full, b])))

    def record_destinations(self, fiscal_year: int, mix: np.ndarray) -> None:
        """Where related people's targets lie at a fiscal-year end: `mix[home, stage, destination]`."""
        for h, s, d in np.argwhere(mix > 0):
            self.destination_rows.append((fiscal_year, int(self.codes[h]), Stage(s).name, Destination(d).name,
                                          int(mix[h, s, d])))

    def _steps(self) -> np.ndarray:
        return np.arange(self.last + 1)

    # --- real people, steps 0..last (index k: the state at boundary k, or the flows of step k-1 → k) --
    def people_by_home(self) -> np.ndarray:
        """(steps, R, stages) living people by home region."""
        return self.scale.people(self.by_home[: self.last + 1])

    def people_by_target(self) -> np.ndarray:
        """(steps, R, stages, types) living people by report region (the target for VISITOR/ENGAGED/DUAL)."""
        return self.scale.people(self.by_target[: self.last + 1])

    def people_flows(self) -> np.ndarray:
        """(steps, R, flows) people who made each flow in the step ending at the boundary (row 0 is zero)."""
        return self.scale.people(self.flows[: self.last + 1])

    def kpi(self, kpi: KPI) -> np.ndarray:
        """(steps, R) values of one KPI (already in real people or yen)."""
        return self.kpis[: self.last + 1, :, kpi]

    @property
    def revenue(self) -> np.ndarray:
        """(steps, levers, R) revenue to regions because of a lever: the ledger's net_revenue, yen."""
        return self.ledger[:, :, NET_REVENUE]

    def spending_by_lever(self) -> np.ndarray:
        """(steps, levers, R) programme spending in yen (row 0 is zero), without the ledger's costs."""
        return self.spending[: self.last + 1]

    def costs(self) -> np.ndarray:
        """(steps, levers, payers, R) public cost in yen: programme spending split by each lever's
        payer shares, plus the ledger items a payer bears (e.g. ふるさと納税's tax deductions) in the
        region where they fall."""
        cube = self.spending[: self.last + 1, :, None, :] * self.payer_shares[None, :, :, None]
        for k, item in enumerate(LEDGER):
            if item.payer is not None:
                cube[:, :, PAYERS.index(item.payer)] += self.ledger[: self.last + 1, :, k]
        return cube

    def stages_frame(self, by: str = "target") -> pd.DataFrame:
        """Tidy people by stage and type: step, date, region, stage, type, people."""
        steps = self._steps()
        frames = []
        if by == "target":
            combos = [(s, EngagementType.NONE) for s in (Stage.NONE, Stage.VISITOR, Stage.SETTLED)]
            combos += [(s, k) for s in _TYPED for k in list(EngagementType)[1:]]
            cube = self.by_target
        elif by == "home":
            combos = [(s, EngagementType.NONE) for s in Stage if s != Stage.DEAD]
            cube = self.by_home[..., None]
        else:
            raise ValueError(f"by must be 'target' or 'home', got {by!r}")
        for s, k in combos:
            values = cube[: self.last + 1, :, s, k if by == "target" else 0]
            frames.append(pd.DataFrame({
                "step": np.repeat(steps, len(self.codes)),
                "region": np.tile(self.codes, len(steps)),
                "stage": s.name,
                "type": k.name,
                "people": self.scale.people(values.ravel()),
            }))
        df = pd.concat(frames, ignore_index=True)
        return self._finish(df, ["step", "region", "stage", "type"], {"stage": [s.name for s in Stage if s != Stage.DEAD],
                                                                  "type": [k.name for k in EngagementType]})

    def flows_frame(self) -> pd.DataFrame:
        """Tidy flows per step and region: step, date, region, flow, people (step 0 has none)."""
        steps = self._steps()[1:]
        cube = self.flows[1: self.last + 1]
        df = pd.DataFrame({
            "step": np.repeat(steps, len(self.codes) * N_FLOWS),
            "region": np.tile(np.repeat(self.codes, N_FLOWS), len(steps)),
            "flow": np.tile([f.name for f in Flow], len(steps) * len(self.codes)),
            "people": self.scale.people(cube.ravel()),
        })
        return self._finish(df, ["step", "region", "flow"], {"flow": [f.name for f in Flow]})

    def population_frame(self) -> pd.DataFrame:
        """Adults living in each region: step, date, region, adults."""
        steps = self._steps()
        adults = self.by_home[: self.last + 1].sum(axis=2)
        df = pd.DataFrame({
            "step": np.repeat(steps, len(self.codes)),
            "region": np.tile(self.codes, len(steps)),
            "adults": self.scale.people(adults.ravel()),
        })
        return self._finish(df, ["step", "region"], {})

    def net_migration_frame(self, areas: list[str], by: str = "area") -> pd.DataFrame:
        """Calendar-year net in-migration in real people by area (or region); see `net_migration_frame`."""
        last = self.last + 1
        return net_migration_frame(self.scale.people(self.by_home[:last]), self.scale.people(self.flows[:last]),
                                   self.dates[:last], self.codes, areas, by)

    def kpi_frame(self) -> pd.DataFrame:
        """Tidy KPIs per step and region: step, date, region, kpi, value."""
        steps = self._steps()
        n_k = len(KPI_NAMES)
        df = pd.DataFrame({
            "step": np.repeat(steps, len(self.codes) * n_k),
            "region": np.tile(np.repeat(self.codes, n_k), len(steps)),
            "kpi": np.tile(list(KPI_NAMES), len(steps) * len(self.codes)),
            "value": self.kpis[: self.last + 1].ravel(),
        })
        return self._finish(df, ["step", "region", "kpi"], {"kpi": list(KPI_NAMES)})

    def continuity_frame(self) -> pd.DataFrame:
        """例2 per fiscal year and region: fiscal_year, region, people."""
        return pd.DataFrame(self.continuity_rows, columns=["fiscal_year", "region", "people"])

    def spending_frame(self) -> pd.DataFrame:
        """Public cost by lever, region and payer per step (yen; rows with spending only): `item` is
        "programme" for the lever's own spending, or the ledger item a payer bears (a tax deduction,
        in the region where it falls)."""
        rows = []
        cube = self.spending[: self.last + 1]
        for step, lever, region in zip(*np.nonzero(cube)):
            yen = cube[step, lever, region]
            for p, payer in enumerate(PAYERS):
                share = self.payer_shares[lever, p]
                if share > 0:
                    rows.append((step, self.lever_labels[lever], self.lever_kinds[lever], self.codes[region],
                                 payer, "programme", yen * share))
        borne = [k for k, item in enumerate(LEDGER) if item.payer is not None]
        book = self.ledger[: self.last + 1][:, :, borne]
        for step, lever, k, region in zip(*np.nonzero(book)):
            item = LEDGER[borne[k]]
            rows.append((step, self.lever_labels[lever], self.lever_kinds[lever], self.codes[region], item.payer,
                         item.name, book[step, lever, k, region]))
        df = pd.DataFrame(rows, columns=["step", "lever", "kind", "region", "payer", "item", "yen"])
        df["step"] = df["step"].astype(np.int64)
        return self._finish(df, ["step", "lever", "region", "payer", "item"],
                            {"payer": list(PAYERS), "item": ["programme", *(LEDGER[k].name for k in borne)]})

    def ledger_frame(self) -> pd.DataFrame:
        """Money the levers move besides programme spending (`LEDGER`), per step, lever, region (where
        it falls) and item: step, date, fiscal_year (年度 of the step's first day), lever, kind, region,
        item, payer (who bears it as a public cost, or empty), yen. Rows with money only."""
        return self._lever_items(self.ledger, LEDGER, "yen", payer=lambda k: [LEDGER[i].payer or "" for i in k])

    def counts_frame(self) -> pd.DataFrame:
        """What spending paid for (`COUNTS`: cases, persons, children, trips, days) per step, lever and
        region: step, date, fiscal_year (年度 of the step's first day), lever, kind, region, item, value
        (real units; rows with a count only)."""
        return self._lever_items(self.counts, COUNTS, "value")

    def _lever_items(self, store: np.ndarray, items, value: str, **extra) -> pd.DataFrame:
        """Tidy rows of a (steps, levers, items, R) store, nonzero cells only; `extra` columns are
        functions of the item indices."""
        cube = store[: self.last + 1]
        step, lever, k, region = np.nonzero(cube)
        first = self.dates[np.maximum(step - 1, 0)]
        df = pd.DataFrame({
            "step": step.astype(np.int64),
            "fiscal_year": np.where(first.month >= 4, first.year, first.year - 1).astype(np.int64),
            "lever": [self.lever_labels[i] for i in lever], "kind": [self.lever_kinds[i] for i in lever],
            "region": self.codes[region], "item": [items[i].name for i in k],
            **{name: column(k) for name, column in extra.items()}, value: cube[step, lever, k, region]})
        return self._finish(df, ["step", "lever", "region", "item"], {"item": [i.name for i in items]})

    def revenue_frame(self) -> pd.DataFrame:
        """Revenue to regions because of a lever (e.g. ふるさと納税) per step: step, date, lever, region, yen."""
        cube = self.revenue[: self.last + 1]
        idx = np.nonzero(cube)
        df = pd.DataFrame({"step": idx[0].astype(np.int64), "lever": [self.lever_labels[i] for i in idx[1]],
                           "region": self.codes[idx[2]], "yen": cube[idx]})
        return self._finish(df, ["step", "lever", "region"], {})

    def cohort_frame(self) -> pd.DataFrame:
        """fiscal_year, programme, entry_fiscal_year, years_since_entry, stage, people (real people)."""
        df = pd.DataFrame(self.cohort_rows, columns=["fiscal_year", "slot", "entry_fiscal_year", "stage", "people"])
        df["programme"] = pd.Categorical([self.programme_labels[q] for q in df["slot"]],
                                         categories=self.programme_labels)
        df["years_since_entry"] = df["fiscal_year"] - df["entry_fiscal_year"]
        df["stage"] = pd.Categorical([Stage(s).name for s in df["stage"]], categories=[s.name for s in Stage])
        df["people"] = self.scale.people(df["people"].astype(float))
        return df[["fiscal_year", "programme", "entry_fiscal_year", "years_since_entry", "stage", "people"]]

    def programme_frame(self) -> pd.DataFrame:
        """step, date, programme, region, entries, participants (real people; rows with either only)."""
        cube_e = self.entries[: self.last + 1]
        cube_p = self.participants[: self.last + 1]
        step, q, r = np.nonzero(cube_e + cube_p)
        df = pd.DataFrame({
            "step": step.astype(np.int64),
            "programme": pd.Categorical([self.programme_labels[i] for i in q], categories=self.programme_labels),
            "region": self.codes[r],
            "entries": self.scale.people(cube_e[step, q, r].astype(float)),
            "participants": self.scale.people(cube_p[step, q, r].astype(float)),
        })
        return self._finish(df, ["step", "programme", "region"], {})

    def visit_days_frame(self) -> pd.DataFrame:
        """Visit-days per person-year: fiscal_year, stage, type, home_kind, full_year, days, people
        (people in each band; full_year: held the stage for the whole fiscal year)."""
        df = pd.DataFrame(self.visit_day_rows, columns=["fiscal_year", "stage", "type", "home_kind", "full_year",
                                                        "days", "people"])
        df["people"] = self.scale.people(df["people"].astype(float))
        df["days"] = pd.Categorical(df["days"], categories=list(VISIT_DAY_LABELS), ordered=True)
        df["stage"] = pd.Categorical(df["stage"], categories=[s.name for s in Stage if s != Stage.DEAD])
        df["type"] = pd.Categorical(df["type"], categories=[k.name for k in EngagementType])
        df["home_kind"] = pd.Categorical(df["home_kind"], categories=list(HOME_KINDS))
        return df.sort_values(["fiscal_year", "stage", "type", "home_kind", "full_year", "days"],
                              kind="stable").reset_index(drop=True)

    def destination_frame(self) -> pd.DataFrame:
        """Where related people's targets lie: fiscal_year, home, stage, destination, people."""
        df = pd.DataFrame(self.destination_rows, columns=["fiscal_year", "home", "stage", "destination", "people"])
        df["people"] = self.scale.people(df["people"].astype(float))
        df["stage"] = pd.Categorical(df["stage"], categories=[s.name for s in Stage if s != Stage.DEAD])
        df["destination"] = pd.Categorical(df["destination"], categories=[d.name for d in Destination])
        return df

    def retention_frame(self, fiscal_years: np.ndarray) -> pd.DataFrame:
        """Retention of each settling cohort (定着率): cohort_fiscal_year, years_after, settlers, left,
        died, retention.

        A cohort is everyone who settled in one fiscal year (`fiscal_years[k]` is the fiscal year of
        step k). `years_after` counts from each member's own settling step; retention is the share of
        the cohort's survivors still living in the region they settled in, (settlers − left − died) ÷
        (settlers − died). A cohort appears for a number of years only once every member has been
        settled that long within the run.
        """
        last = self.last
        settled = self.flows[1: last + 1, :, Flow.SETTLE].sum(axis=1)        # settling step k = 0..last-1
        exits = self.settler_exits[: last + 1]                               # (steps, 2, settling step)
        cumulative = np.cumsum(exits, axis=0)                                # exits up to each boundary
        rows = []
        years = np.asarray(fiscal_years[: last])
        steps_per_year = self.steps_per_year
        for fy in np.unique(years):
            members = np.flatnonzero(years == fy)
            for d in RETENTION_YEARS:
                until = members + 1 + d * steps_per_year                     # boundary d years after settling
                if until.max() > last:
                    continue
                n = int(settled[members].sum())
                left = int(cumulative[until, 0, members].sum())
                died = int(cumulative[until, 1, members].sum())
                alive = n - died
                rows.append((int(fy), d, n, left, died, (alive - left) / alive if alive > 0 else np.nan))
        df = pd.DataFrame(rows, columns=["cohort_fiscal_year", "years_after", "settlers", "left", "died", "retention"])
        for col in ("settlers", "left", "died"):
            df[col] = self.scale.people(df[col].astype(float))
        return df

    def _finish(self, df: pd.DataFrame, order: list[str], categories: dict[str, list[str]]) -> pd.DataFrame:
        df.insert(1, "date", self.dates[df["step"].to_numpy()])
        for col, cats in categories.items():
            df[col] = pd.Categorical(df[col], categories=cats)
        return df.sort_values(order, kind="stable").reset_index(drop=True)
