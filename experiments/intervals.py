"""Intervals of paired effects and the one rule for cost per outcome (区間推定と費用対効果の判定).

`kankei compare` pairs each policy run with its baseline run on the same seed (common random
numbers), so each replication gives one paired difference. What a policymaker asks of those
differences is whether the *mean* effect is distinguishable from zero and how large it is, so the
interval is a **bootstrap interval of the mean paired difference**, not the spread of the
differences across seeds (which does not narrow as replications are added).

The bootstrap is the *expanded percentile* interval (Hesterberg, "What Teachers Should Know About
the Bootstrap", The American Statistician 69(4), 2015, §3.4): the plain percentile interval of the
mean is too narrow for small samples (its width has the factor √((n−1)/n) and a normal instead of a
t quantile), so its tail probability α/2 is replaced by α'/2 with
`Φ⁻¹(1 − α'/2) = √(n/(n−1)) · t_{n−1}(1 − α/2)`. For a sample of n differences with sd s its width
is then close to that of the t interval, `2 · t_{n−1}(1 − α/2) · s / √n`, which is what
`replications_for_width` inverts. With fewer than `MIN_REPS` replications no interval is estimated.

One rule decides when a cost per outcome is shown (`effect_status`, `cost_per_outcome`): only
where spending is positive and the whole interval of the effect lies above zero. The comparison
table, the printed `kankei compare` output, the figures and the HTML report all use it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

LEVEL = 0.90          # two-sided coverage of every interval kankei compare reports
MIN_REPS = 3          # fewer replications: no interval is estimated
RESAMPLES = 10_000    # bootstrap resamples
BOOTSTRAP_SEED = 20200401  # fixed, so the same differences always give the same interval

INTERVAL_LABEL = (f"{LEVEL:.0%} bootstrap interval of the mean paired difference "
                  f"(expanded percentile, {RESAMPLES:,} resamples)")

#: effect statuses, and what each says in words (the comparison's notes)
STATUS_TEXT = {
    "ok": "",
    "no_interval": "no interval estimated: fewer than {min} replications ({n})",
    "not_distinguishable": "not distinguishable from zero with {n} replications",
    "negative": "effect below zero with {n} replications",
    "no_spending": "no spending",
}


def expanded_tail(n: int, level: float = LEVEL) -> float:
    """The tail probability α'/2 of the expanded percentile bootstrap for a sample of `n`."""
    t = stats.t.ppf(0.5 + level / 2, n - 1)
    return float(stats.norm.sf(math.sqrt(n / (n - 1)) * t))


def mean_interval(diffs: np.ndarray, level: float = LEVEL, resamples: int = RESAMPLES,
                  seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """(low, high) expanded-percentile bootstrap interval of the mean of `diffs`; (NaN, NaN) with
    fewer than `MIN_REPS` values."""
    d = np.asarray(diffs, dtype=float)
    n = len(d)
    if n < MIN_REPS:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    tail = expanded_tail(n, level)
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(min(low, d.mean())), float(max(high, d.mean()))


def replications_for_width(sd: float, width: float, level: float = LEVEL) -> float:
    """Smallest number of replications n ≥ `MIN_REPS` whose interval of the mean, `2 · t_{n−1} · sd / √n`,
    is at most `width` wide (NaN if `width` is not positive or either value is not finite)."""
    if not (math.isfinite(sd) and math.isfinite(width)) or width <= 0:
        return math.nan
    if sd == 0:
        return float(MIN_REPS)
    q = 0.5 + level / 2
    n = max(MIN_REPS, math.ceil((2 * stats.norm.ppf(q) * sd / width) ** 2))  # normal bound: t > z, so n only grows
    while 2 * stats.t.ppf(q, n - 1) * sd / math.sqrt(n) > width:
        n += 1
    return float(n)


def effect_status(low: float, high: float) -> str:
    """'no_interval' (no interval was estimated), 'negative' (the interval lies below zero),
    'not_distinguishable' (it includes zero) or 'ok' (it lies above zero)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "no_interval"
    if high < 0:
        return "negative"
    if low <= 0:
        return "not_distinguishable"
    return "ok"


def status_text(status: str, reps: int) -> str:
    """What a status says in words, for `reps` replications."""
    return STATUS_TEXT[status].format(n=reps, min=MIN_REPS)


def cost_per_outcome(table: pd.DataFrame, cost: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """Per policy: spending, the effect's interval and yen per additional `outcome` with its interval
    (spending ÷ the effect and ÷ the interval's ends), NaN unless `status` is 'ok'. `status` is
    'no_spending', or the effect's status (`effect_status`)."""
    effect = table[table["outcome"] == outcome].set_index("policy")[["difference", "low", "high"]]
    spend = cost.set_index("policy")["spending_yen"].reindex(effect.index)
    status = [("no_spending" if not s > 0 else effect_status(lo, hi))
              for s, lo, hi in zip(spend, effect["low"], effect["high"])]
    ok = np.array([s == "ok" for s in status], dtype=bool)
    out = pd.DataFrame({"spending_yen": spend, **effect, "status": status}, index=effect.index)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["yen"] = np.where(ok, spend / effect["difference"], np.nan)
        out["yen_low"] = np.where(ok, spend / effect["high"], np.nan)
        out["yen_high"] = np.where(ok, spend / effect["low"], np.nan)
    return out
