"""Regions (地域): the region table, travel time and cost between regions, gravity tables, Region agents."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import mesa
import numpy as np
import pandas as pd

from model.parameters import ChoiceSettings, RegionSettings, ScenarioError, TravelSettings
from model.stages import Stage

if TYPE_CHECKING:
    from model.relation_model import RelationModel

REQUIRED_COLUMNS = ("code", "name_ja", "name_en", "kind", "lat", "lon")
_BAND = re.compile(r"^pop_(\d+)_(\d+|plus)$")
EARTH_RADIUS_KM = 6371.0
METRO_AREAS = ("tokyo", "nagoya", "osaka", "none")  # 東京圏, 名古屋圏, 大阪圏 (住民基本台帳人口移動報告), other


@dataclass(frozen=True)
class RegionTable:
    """The region table as arrays, one row per region, in file order."""

    codes: np.ndarray         # int, JIS code
    names_ja: list[str]
    names_en: list[str]
    is_metro: np.ndarray      # bool
    lat: np.ndarray
    lon: np.ndarray
    bands: list[tuple[int, int]]  # inclusive age bands, e.g. (18, 19), (80, 99)
    population: np.ndarray    # (R, B) adults by band at the start
    vacant_houses: np.ndarray | None
    municipalities: np.ndarray  # 市町村 per region (1 each if the table has no such column)
    metro_areas: tuple[str, ...] = ()  # 三大都市圏 of each region: tokyo, nagoya, osaka or none (all none without the column)

    @property
    def n(self) -> int:
        """Number of regions."""
        return len(self.codes)

    @property
    def adults(self) -> np.ndarray:
        """Adults (18+) per region."""
        return self.population.sum(axis=1)

    def index_of(self, code: int) -> int:
        """Row of a region given its code."""
        hits = np.flatnonzero(self.codes == code)
        if hits.size == 0:
            raise KeyError(code)
        return int(hits[0])


def read_region_table(path: Path) -> RegionTable:
    """Read and check a region CSV; problems name the file and the column."""
    try:
        df = pd.read_csv(path, comment="#", encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise ScenarioError(path, "", "the region table is empty; it needs a header row with the columns "
                            f"{', '.join(REQUIRED_COLUMNS)}, pop_18_19 ... and one row per region") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(path, "", f"not UTF-8 text (byte offset {exc.start}); save the table as UTF-8") from None
    except (OSError, pd.errors.ParserError) as exc:
        raise ScenarioError(path, "", f"cannot read region table: {str(exc).strip()}") from None
    if df.empty:
        raise ScenarioError(path, "", "the region table has a header but no rows; it needs one row per region")
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ScenarioError(path, missing[0], f"required column missing; the table needs {', '.join(REQUIRED_COLUMNS)}")
    bands: list[tuple[int, int, str]] = []
    for col in df.columns:
        m = _BAND.match(col)
        if m:
            lo = int(m.group(1))
            hi = 99 if m.group(2) == "plus" else int(m.group(2))
            bands.append((lo, hi, col))
    if not bands:
        raise ScenarioError(path, "pop_*", "no adult population columns (pop_18_19, pop_20_29, ..., pop_80_plus)")
    bands.sort()
    if bands[0][0] != 18:
        raise ScenarioError(path, bands[0][2], "the first age band must start at 18 (adults)")
    for (lo0, hi0, c0), (lo1, _, c1) in zip(bands, bands[1:]):
        if lo1 != hi0 + 1:
            raise ScenarioError(path, c1, f"age bands must be contiguous: {c0} is followed by {c1}")
    bad_kind = sorted(set(df["kind"]) - {"metro", "rural"})
    if bad_kind:
        raise ScenarioError(path, "kind", f"values must be 'metro' or 'rural', found {bad_kind}")
    numeric = ["code", "lat", "lon"] + [c for *_, c in bands]
    for col in numeric:
        values = pd.to_numeric(df[col], errors="coerce")
        if values.isna().any():
            row = int(values.isna().to_numpy().nonzero()[0][0]) + 2
            raise ScenarioError(path, col, f"must be a number on every row (line {row})")
        if col.startswith("pop_") and (values < 0).any():
            raise ScenarioError(path, col, "population counts must be ≥ 0")
    if df["code"].duplicated().any():
        raise ScenarioError(path, "code", "region codes must be unique")
    if not (df["lat"].between(-90, 90).all() and df["lon"].between(-180, 180).all()):
        raise ScenarioError(path, "lat/lon", "coordinates must be decimal degrees")
    vacant = None
    if "vacant_houses" in df.columns:
        vacant = pd.to_numeric(df["vacant_houses"], errors="coerce").to_numpy(dtype=float)
        if np.isnan(vacant).any() or (vacant < 0).any():
            raise ScenarioError(path, "vacant_houses", "must be a count ≥ 0 on every row")
    municipalities = np.ones(len(df), dtype=np.int64)
    if "municipalities" in df.columns:
        values = pd.to_numeric(df["municipalities"], errors="coerce")
        if values.isna().any() or (values < 1).any():
            raise ScenarioError(path, "municipalities", "must be a whole number ≥ 1 on every row")
        municipalities = values.to_numpy(dtype=np.int64)
    areas = ("none",) * len(df)
    if "metro_area" in df.columns:
        values = df["metro_area"].fillna("").astype(str).str.strip()
        bad = sorted(set(values) - set(METRO_AREAS))
        if bad:
            raise ScenarioError(path, "metro_area", f"values must be one of {', '.join(METRO_AREAS)}, found {bad}")
        areas = tuple(values)
    return RegionTable(
        codes=df["code"].to_numpy(dtype=np.int64),
        names_ja=df["name_ja"].astype(str).tolist(),
        names_en=df["name_en"].astype(str).tolist(),
        is_metro=(df["kind"] == "metro").to_numpy(),
        lat=df["lat"].to_numpy(dtype=float),
        lon=df["lon"].to_numpy(dtype=float),
        bands=[(lo, hi) for lo, hi, _ in bands],
        population=df[[c for *_, c in bands]].to_numpy(dtype=float),
        vacant_houses=vacant,
        municipalities=municipalities,
        metro_areas=areas,
    )


def great_circle_km(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Haversine distance between every pair of points, km."""
    phi = np.radians(lat)[:, None]
    phj = np.radians(lat)[None, :]
    dlon = np.radians(lon)[None, :] - np.radians(lon)[:, None]
    h = np.sin((phj - phi) / 2) ** 2 + np.cos(phi) * np.cos(phj) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


@dataclass(frozen=True)
class Travel:
    """Travel between regions: one-way hours and round-trip cost in yen (移動時間・移動費)."""

    distance_km: np.ndarray
    hours: np.ndarray
    cost_yen: np.ndarray

    @classmethod
    def from_rule(cls, table: RegionTable, rule: TravelSettings) -> "Travel":
        """Route km = great-circle km × route_factor; time and fare follow the documented rule.

        A trip inside one's own prefecture (a tie to another of its municipalities) is given the
        great-circle distance `own_distance_share` × the distance from its capital to the nearest
        other capital: half that distance is about the prefecture's radius, and a trip between two
        of its municipalities is of that order. Only the diagonal uses this rule.
        """
        d = great_circle_km(table.lat, table.lon)
        if table.n > 1:
            others = d + np.diag(np.full(table.n, np.inf))
            np.fill_diagonal(d, rule.own_distance_share * others.min(axis=1))
        route = d * rule.route_factor
        ground = np.minimum(route, rule.ground_limit_km)
        fast = np.maximum(route - rule.ground_limit_km, 0.0)
        hours = rule.access_hours + ground / rule.ground_speed_kmh + fast / rule.fast_speed_kmh
        cost = 2.0 * (rule.base_fare_yen + rule.fare_per_km_yen * route)
        return cls(distance_km=d, hours=hours, cost_yen=cost)


def cumulative(weights: np.ndarray) -> np.ndarray:
    """Row-normalised cumulative weights; exactly 1.0 from each row's last positive entry on."""
    total = weights.sum(axis=1, keepdims=True)
    p = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
    cum = np.cumsum(p, axis=1)
    positive = weights > 0
    n = weights.shape[1]
    last = n - 1 - np.argmax(positive[:, ::-1], axis=1)            # each row's last positive entry
    tail = (np.arange(n)[None, :] >= last[:, None]) & positive.any(axis=1)[:, None]
    cum[tail] = 1.0
    return cum


def pair_weights(table: RegionTable, choice: ChoiceSettings) -> np.ndarray:
    """(R, R) ω_ht of the target choice: own prefecture (0 for a region of one municipality: there is
    no other municipality to relate to), same metro area, or 1."""
    area = np.asarray(table.metro_areas)
    same_area = (area[:, None] == area[None, :]) & (area != "none")[:, None]
    w = np.where(same_area, choice.same_metro_area_weight, 1.0)
    np.fill_diagonal(w, choice.own_region_weight * (table.municipalities > 1))
    return w


@dataclass(frozen=True)
class Gravity:
    """Gravity tables for choosing a target region (関係先の選択), one set per cost class.

    W[c, h, t] = ω_ht · attr_t · adults_t^α · exp(−β_time·hours_ht − β_cost·cost_ht·share[c, h, t]/¥10k),
    where share is the part of the round trip the traveller pays (1 without levers) and ω_ht is
    `own_region_weight` for t = h (a tie to another municipality of one's own prefecture, with the
    within-prefecture travel rule of `Travel.from_rule`), `same_metro_area_weight` for two
    prefectures of one metro area, else 1.
    """

    choice_p: np.ndarray     # (classes, R, R) W / Σ_t W
    choice_cum: np.ndarray   # (classes, R, R) cumulative rows
    access: np.ndarray       # (classes, R) visit hazard factor of each home region
    reach_ref: float         # mean reach without levers: access is relative to it

    @classmethod
    def build(cls, table: RegionTable, travel: Travel, regions: RegionSettings, choice: ChoiceSettings,
              cost_share: np.ndarray, attractiveness: np.ndarray | None = None,
              reach_ref: float | None = None) -> "Gravity":
        """Tables for each class of `cost_share` (classes, R, R)."""
        attr = np.where(table.is_metro, regions.attractiveness_metro, regions.attractiveness_rural)
        if attractiveness is not None:
            attr = attr * attractiveness
        mass = attr * table.adults ** choice.population_exponent
        cost = travel.cost_yen[None, :, :] * cost_share
        w = (pair_weights(table, choice)[None, :, :] * mass[None, None, :]
             * np.exp(-choice.time_decay_per_hour * travel.hours[None, :, :] - choice.cost_decay_per_10k_yen * cost / 1e4))
        reach = w.sum(axis=2)
        ref = float(reach[0].mean()) if reach_ref is None else reach_ref
        return cls(choice_p=w / reach[:, :, None],
                   choice_cum=np.stack([cumulative(wc) for wc in w]),
                   access=(reach / ref) ** choice.access_exponent, reach_ref=ref)


class Region(mesa.Agent):
    """A prefecture or municipality (地域) as a Mesa agent; its counts are views onto the model's tallies."""

    def __init__(self, model: "RelationModel", index: int, table: RegionTable) -> None:
        super().__init__(model)
        self.index = index
        self.code = int(table.codes[index])
        self.name_ja = table.names_ja[index]
        self.name_en = table.names_en[index]
        self.kind = "metro" if table.is_metro[index] else "rural"
        self.lat = float(table.lat[index])
        self.lon = float(table.lon[index])

    def __repr__(self) -> str:
        return f"Region({self.code} {self.name_en} / {self.name_ja}, {self.kind})"

    def people(self, stage: Stage) -> float:
        """Real people related to this region at `stage` now (residents for NONE/SETTLED)."""
        return float(self.model.scale.people(self.model.counts_by_target[self.index, int(stage)].sum()))

    @property
    def engaged(self) -> float:
        """関係人口 of this region now (ENGAGED people whose target is this region), scaled."""
        return self.people(Stage.ENGAGED)

    @property
    def adult_population(self) -> float:
        """Adults living here now (all stages by home region), real people."""
        return float(self.model.scale.people(self.model.counts_by_home[self.index].sum()))
