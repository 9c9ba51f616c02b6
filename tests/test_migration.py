"""General migration (一般的な人口移動): conservation, the move probability in closed form, the period
effect, the relationship rule, the destination rules, net in-migration by area, bad period tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model import RelationModel, kernel, load_scenario
from model.codes import MoveKind
from model.migration import age_profiles, destination_weights
from model.parameters import ScenarioError
from model.regions import Travel, read_region_table
from model.stages import Flow, Stage
from tests.conftest import NO_MIGRATION

REPO = Path(__file__).resolve().parents[1]
KIND_MOVES = (Flow.JOB_MOVE, Flow.METRO_MOVE, Flow.RETIRE_MOVE, Flow.RETURN_MOVE)
KIND_ARRIVALS = (Flow.JOB_ARRIVAL, Flow.METRO_ARRIVAL, Flow.RETIRE_ARRIVAL, Flow.RETURN_ARRIVAL)

# nothing but job moves at a constant hazard: no ladder, no deaths, a flat age profile
JOB_ONLY = {
    **NO_MIGRATION,
    "run.people_per_agent": 500, "run.horizon_years": 3, "demography.enabled": False,
    **{f"rates.{r}": 0.0 for r in ("visit", "engage", "lapse_visitor", "deepen", "dual", "settle",
                                   "lapse_engaged", "lapse_dual", "leave")},
    "propensity.rc_labour_amplitude": 0.0,   # the JOB profile is the constant term alone: 1 at every age
    "migration.job_rate": 0.2,
    "migration.period": {},
}


def test_age_profiles_peak_at_one_where_expected():
    cfg = load_scenario().config
    prof = age_profiles(cfg)
    ages = np.arange(prof.shape[1])
    for kind in MoveKind:
        assert prof[kind, 18:101].max() == pytest.approx(1.0, abs=0.05)  # whole years, evaluated mid-year
    assert 18 <= ages[prof[MoveKind.METRO].argmax()] <= 30
    assert ages[prof[MoveKind.RETURN].argmax()] == ages[prof[MoveKind.JOB].argmax()] + 4
    assert 60 <= ages[prof[MoveKind.RETIRE].argmax()] <= 70
    assert prof[MoveKind.METRO, 80] < 0.01 and prof[MoveKind.JOB, 80] > 0.05  # the constant term


def test_destination_rules():
    sc = load_scenario()
    table = read_region_table(sc.data_path())
    w = destination_weights(table, Travel.from_rule(table, sc.config.travel), sc.config)
    assert np.all(np.diagonal(w, axis1=1, axis2=2) == 0), "a move leaves home"
    larger = table.adults[None, :] > table.adults[:, None]
    assert np.all(w[MoveKind.METRO][~larger] == 0) and np.all(w[MoveKind.METRO][larger] > 0)
    assert w[MoveKind.METRO][table.adults.argmax()].sum() == 0, "the largest region has no larger one"
    off = ~np.eye(table.n, dtype=bool)
    assert np.all(w[MoveKind.JOB][off] > 0)


def test_migration_conserves_people_and_keeps_the_tallies(small_run):
    m = small_run
    f = m.history.flows.sum(axis=1)
    moves = f[:, Flow.MIGRATE]
    assert moves.sum() > 0
    assert np.array_equal(moves, f[:, Flow.MIGRATE_ARRIVAL])
    assert np.array_equal(moves, f[:, list(KIND_MOVES)].sum(axis=1))
    assert np.array_equal(f[:, list(KIND_MOVES)], f[:, list(KIND_ARRIVALS)])
    assert all(f[:, k].sum() > 0 for k in KIND_MOVES)
    living = m.history.by_home.sum(axis=(1, 2))
    assert np.array_equal(np.diff(living), f[1:, Flow.NEW_ADULT] - f[1:, Flow.DEATH]), "moves create nobody"
    by_target, by_home = np.zeros_like(m.counts_by_target), np.zeros_like(m.counts_by_home)
    kernel.tally(m.people.arrays(), by_target, by_home)
    assert np.array_equal(by_target, m.counts_by_target) and np.array_equal(by_home, m.counts_by_home)


def _moves_per_step(model: RelationModel) -> np.ndarray:
    return model.history.flows[1:, :, Flow.MIGRATE].sum(axis=1)


def test_move_probability_and_period_effect_in_closed_form():
    """λ = r for everyone in NONE, VISITOR or ENGAGED (DUAL and SETTLED do not move): each step
    moves Binomial(N, 1 − e^(−r·m_y·dt)) of them, with the period multiplier m_y of the step's
    calendar year; a period entry changes no draw before its year."""
    plain = RelationModel(scenario=load_scenario(overrides=JOB_ONLY), rng=4)
    covid = RelationModel(scenario=load_scenario(overrides={**JOB_ONLY, "migration.period": {"2021": 0.5}}), rng=4)
    plain.run()
    covid.run()
    stage = plain.people.stage[: plain.people.n]
    n = int(np.count_nonzero(stage <= Stage.ENGAGED))
    assert n == int(np.count_nonzero(plain.people.stage[: plain.people.n] <= Stage.ENGAGED)), "stages never change"
    years = plain.dates[:-1].year
    dt = plain.dt
    for model, mult in ((plain, {}), (covid, {2021: 0.5})):
        moves = _moves_per_step(model)
        for y in (2020, 2021, 2022):
            sel = years == y
            p = 1 - np.exp(-0.2 * mult.get(y, 1.0) * dt)
            expected = sel.sum() * n * p
            sd = np.sqrt(sel.sum() * n * p * (1 - p))
            assert abs(moves[sel].sum() - expected) < 4 * sd, (y, moves[sel].sum(), expected, sd)
    before = years < 2021
    assert np.array_equal(plain.history.flows[1:][before], covid.history.flows[1:][before]), \
        "before its year the period entry changes nothing (common random numbers)"
    in_2021 = years == 2021
    ratio = _moves_per_step(covid)[in_2021].sum() / _moves_per_step(plain)[in_2021].sum()
    assert ratio == pytest.approx(0.5, abs=0.03)
    # nobody dies here and DUAL/SETTLED people never move, so every mover is accounted for
    assert plain.history.flows[:, :, Flow.DEATH].sum() == 0


def test_relationship_rule_of_a_mover():
    """A mover keeps the relationship unless they move into the region related to: then they live there
    (stage NONE, no target); DEAD slots never move."""
    model = RelationModel(scenario=load_scenario(overrides={"run.people_per_agent": 2000, "run.horizon_years": 1,
                                                            "migration.job_rate": 2.0}), rng=8)
    into = elsewhere = 0
    for _ in range(3):
        p = model.people
        n = p.n
        before = {f: getattr(p, f)[:n].copy() for f in ("stage", "home", "target", "etype")}
        model.step()
        after = {f: getattr(p, f)[:n] for f in ("stage", "home", "target", "etype")}
        dead = before["stage"] == Stage.DEAD
        assert np.array_equal(after["home"][dead], before["home"][dead])
        related = (before["stage"] == Stage.VISITOR) | (before["stage"] == Stage.ENGAGED)
        moved = related & (after["home"] != before["home"]) & (after["stage"] != Stage.DEAD)
        to_target = moved & (after["home"] == before["target"])
        went_in = to_target & (after["stage"] == Stage.NONE)
        assert np.all(after["target"][went_in] == -1) and np.all(after["etype"][went_in] == 0)
        assert np.all(np.isin(after["stage"][to_target], [Stage.NONE, Stage.SETTLED]))
        assert went_in.sum() == model.last_flows[:, Flow.MIGRATE_INTO_TARGET].sum()
        away = moved & ~to_target
        assert np.array_equal(after["stage"][away], before["stage"][away])
        assert np.array_equal(after["target"][away], before["target"][away])
        assert np.array_equal(after["etype"][away], before["etype"][away])
        into += int(went_in.sum())
        elsewhere += int(away.sum())
    assert into > 0 and elsewhere > into


def test_net_in_migration_by_area_sums_to_zero(small_run):
    areas = small_run.net_migration()
    regions = small_run.net_migration(by="region")
    assert set(areas["area"]) == {"東京圏", "名古屋圏", "大阪圏", "その他"}
    assert sorted(regions.loc[regions["area"] == "東京圏", "region"].unique()) == [11, 12, 13, 14]
    for col in ("net", "general", "relationship"):
        assert np.all(areas.groupby("year")[col].sum() == 0), col
        assert np.all(regions.groupby("year")[col].sum() == 0), col
    assert np.allclose(areas["net"], areas["general"] + areas["relationship"])
    summed = regions.groupby(["year", "area"], observed=True)["net"].sum()
    assert np.allclose(summed.loc[list(zip(areas["year"], areas["area"]))].to_numpy(), areas["net"].to_numpy())
    span = areas.groupby("year")[["months", "complete"]].first()
    assert span.loc[2020].tolist() == [9, False] and span.loc[2021].tolist() == [12, True]
    assert span.loc[2022].tolist() == [3, False]
    tokyo = areas[(areas["area"] == "東京圏") & areas["complete"]]
    assert (tokyo["general_in"] > 0).all() and (tokyo["net"] > 0).all(), "young adults go to the metros"


@pytest.mark.parametrize(("period", "fragment"), [
    ({"2021": float("nan")}, "2021: must be a finite number ≥ 0"),
    ({"2021": float("inf")}, "2021: must be a finite number ≥ 0"),
    ({"2021": -0.5}, "2021: must be a finite number ≥ 0"),
    ({"2021": {"metro": -1.0}}, "2021.metro: must be a finite number ≥ 0"),
    ({"2021": {"bogus": 1.0}}, "2021.bogus: unknown kind of move; allowed: job, metro, retire, return"),
    ({"21": 0.8}, "'21' is not a calendar year"),
    ({"2021": "low"}, "2021: must be a number ≥ 0"),
    (0.8, "must be a table of calendar years"),
])
def test_bad_period_tables_are_refused(period, fragment):
    with pytest.raises(ScenarioError) as err:
        load_scenario(overrides={"migration.period": period})
    assert err.value.key == "migration.period" and fragment in str(err.value)


def test_bad_period_table_exits_2_via_the_cli(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(f'extends = "{REPO / "scenarios" / "baseline.toml"}"\n[migration.period]\n2021 = nan\n')
    out = tmp_path / "res"
    done = subprocess.run([sys.executable, "-m", "experiments.cli", "run", str(bad), "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 2
    assert "bad.toml: migration.period: 2021: must be a finite number ≥ 0" in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()


def test_a_period_table_by_kind_is_normalised():
    cfg = load_scenario(overrides={"migration.period": {"2020": 0.8, "2021": {"metro": 0.6}}}).config
    assert cfg.migration.period_multipliers(2020) == (0.8, 0.8, 0.8, 0.8)
    assert cfg.migration.period_multipliers(2021) == (1.0, 0.6, 1.0, 1.0)
    assert cfg.migration.period_multipliers(2022) == (1.0, 1.0, 1.0, 1.0)
