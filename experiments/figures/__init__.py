"""Figures (図) in Japanese or English: every function returns a matplotlib Figure and takes
`lang="ja"|"en"`.

- `stages_over_time` people by stage, national or per region, with replicate bands
- `ladder_funnel` the ladder 交流人口 → 関係人口 → 二地域居住 → 定住人口 with flows and lapses per year
- `prefecture_map` a tile-grid map of the 47 prefectures coloured by any per-region value
  (`engaged_per_1000_adults` gives one)
- `lever_comparison` differences from the baseline over time and cost per additional outcome
- `spending_by_lever` spending to date per lever, stacked by payer
- `sensitivity_indices` Morris μ*/σ or Sobol S1/ST with intervals
- `calibration_intervals` observed targets against predictive intervals
- `posterior_marginals` posterior draws of each calibrated parameter over its prior range
"""

from experiments.figures.indices import calibration_intervals, posterior_marginals, sensitivity_indices
from experiments.figures.ladder import ladder_funnel, stages_over_time
from experiments.figures.levers import lever_comparison, spending_by_lever
from experiments.intervals import cost_per_outcome
from experiments.figures.text import LANGS, finish
from experiments.figures.tilemap import engaged_per_1000_adults, prefecture_map

__all__ = ["LANGS", "calibration_intervals", "cost_per_outcome", "engaged_per_1000_adults", "finish", "ladder_funnel", "lever_comparison",
           "posterior_marginals", "prefecture_map", "sensitivity_indices", "spending_by_lever", "stages_over_time"]
