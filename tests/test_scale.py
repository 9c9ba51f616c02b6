"""Results do not depend on the scale (規模に依存しない結果): `run.people_per_agent` changes the noise,
never the expectation, and common random numbers keep pairing a policy with its baseline.

For the baseline and three levers, 8 paired replications at 200 and at 1,000 people per agent over
7.5 years (the measurement behind docs/experiments.md, "Scale", is `python -m experiments.scale`):

* the baseline's expected outcomes agree between the two scales within their sampling error;
* each lever's paired effect agrees between the scales within the paired intervals;
* at 1,000 people per agent pairing still removes most of the noise: paired sd below 0.3 × the sd
  of an unpaired difference (measured 0.02–0.14; competing risks stacked contiguously, before
  issue 11, gave 0.48 for the dual-residence lever's settlers);
* every lever leaves the run identical to the baseline, bit for bit, until its start.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from experiments.scale import paired_runs, summarise_pairs
from model import RelationModel, kernel, load_scenario

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"
LEVER_ALONE = REPO / "tests" / "scenarios"   # each lever alone on the no-policy baseline
LEVERS = ("policy_relocation_grant.toml", "policy_dual_residence.toml", "programme_kyoryokutai.toml")
BASELINE_OUTCOMES = ("settlers_total", "final_engaged", "final_visitors", "final_settled", "adults_final")
EFFECT_OUTCOMES = ("settlers_total", "final_engaged")
REPS = 8
Z = 4.0  # agreement within Z standard errors: 16 comparisons of fixed-seed runs, some slack for t-tails


def _study(ppa: float, outcomes: tuple[str, ...]) -> tuple:
    over = {"run.people_per_agent": ppa, "run.horizon_years": 7.5}
    base = load_scenario(SCENARIOS / "baseline.toml", overrides=over)
    policies = [load_scenario(LEVER_ALONE / name, overrides=over) for name in LEVERS]
    runs = paired_runs(base, policies, REPS, outcomes=outcomes)
    return runs, summarise_pairs(runs, outcomes)


@pytest.fixture(scope="module")
def scales():
    outcomes = tuple(dict.fromkeys(BASELINE_OUTCOMES + EFFECT_OUTCOMES))
    return {ppa: _study(ppa, outcomes) for ppa in (200.0, 1000.0)}


@pytest.mark.slow
def test_baseline_expected_outcomes_do_not_depend_on_the_scale(scales):
    for outcome in BASELINE_OUTCOMES:
        means, ses = [], []
        for ppa in (200.0, 1000.0):
            runs = scales[ppa][0]
            # the baseline runs, measured where the first lever acts (the rural regions)
            values = runs.drop_duplicates("rep")[f"baseline_{outcome}"].to_numpy()
            means.append(values.mean())
            ses.append(values.std(ddof=1) / np.sqrt(len(values)))
        gap, se = abs(means[0] - means[1]), np.hypot(*ses)
        assert gap <= Z * se + 1e-9 * abs(means[0]), f"{outcome}: {means[0]:.4g} at 200, {means[1]:.4g} at 1,000 (se {se:.3g})"


@pytest.mark.slow
def test_lever_effects_agree_between_scales_within_their_paired_intervals(scales):
    checked = 0
    for policy in (Path(name).stem for name in LEVERS):
        for outcome in EFFECT_OUTCOMES:
            rows = [t[(t.policy == policy) & (t.outcome == outcome)].iloc[0] for _, t in
                    (scales[200.0], scales[1000.0])]
            fine, coarse = rows
            se = np.hypot(fine.paired_sd, coarse.paired_sd) / np.sqrt(REPS)
            assert abs(fine.effect - coarse.effect) <= Z * se, (
                f"{policy} {outcome}: {fine.effect:.4g} at 200, {coarse.effect:.4g} at 1,000 (se {se:.3g})")
            checked += abs(fine.effect) > 3 * fine.paired_sd / np.sqrt(REPS)
    assert checked >= 4, "most effects are clearly non-zero, so agreement means something"


@pytest.mark.slow
def test_pairing_keeps_its_variance_reduction_at_coarse_scale(scales):
    table = scales[1000.0][1]
    for row in table[table.outcome.isin(EFFECT_OUTCOMES)].itertuples():
        assert row.paired_over_unpaired < 0.3, (
            f"{row.policy} {row.outcome}: paired sd {row.paired_sd:.3g} vs unpaired {row.unpaired_sd:.3g}")


@pytest.mark.slow
@pytest.mark.parametrize("name", [*LEVERS, "policy_intermediary.toml", "policy_travel_subsidy.toml"])
def test_every_lever_is_identical_to_the_baseline_before_its_start(name):
    over = {"run.people_per_agent": 1000, "run.horizon_years": 3, "levers.0.start": "2021-01"}
    policy = load_scenario(LEVER_ALONE / name, overrides=over)
    base = load_scenario(SCENARIOS / "baseline.toml", overrides={k: v for k, v in over.items() if k.startswith("run")})
    a, b = RelationModel(scenario=base, rng=11), RelationModel(scenario=policy, rng=11)
    before = 9  # 2020-04 … 2020-12
    for _ in range(before):
        a.step()
        b.step()
    assert a.people.n == b.people.n
    pa, pb = a.people.arrays(), b.people.arrays()
    for field in kernel.PersonArrays._fields:
        assert np.array_equal(getattr(pa, field), getattr(pb, field)), field
    assert np.array_equal(a.history.people_flows(), b.history.people_flows())
    assert b.history.costs().sum() == 0
    for _ in range(24):
        a.step()
        b.step()
    pa, pb = a.people.arrays(), b.people.arrays()
    assert any(not np.array_equal(getattr(pa, f), getattr(pb, f)) for f in kernel.PersonArrays._fields), \
        "the lever acts after its start"
