"""The interactive app (対話型アプリ): a Mesa SolaraViz page to pick a scenario, move lever sliders
and watch people by stage, the prefecture map and spending update.

Start it with `kankei app` (bound to 127.0.0.1), or `solara run experiments/app.py`. The scenario
menu picks the starting point, whose own levers stay as they are; each slider adds one lever of its
kind on top, acting in every rural prefecture from April 2020 (0 = not added): the 副業・兼業 travel
subsidy's reimbursed share (for residents of the Tokyo area), an intermediary organisation's
places per month (中間支援組織), 移住コーディネーター staff, and the 移住支援金 per household (single
people get 60 %, as in the scheme). Press Reset to start a run with the new settings.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import solara
from mesa.visualization import SolaraViz

from experiments import figures
from experiments.figures.text import Lang, t
from model import RelationModel, load_scenario
from model.parameters import DEFAULT_SCENARIO

SCENARIO_DIR = DEFAULT_SCENARIO.parent
SCENARIOS = sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))
TOKYO_AREA = [11, 12, 13, 14]


def added_levers(travel_share: float, places_per_month: int, coordinator_staff: int,
                 grant_man_yen: int) -> list[dict]:
    """The levers the sliders add (rural host regions, from FY2020); a slider at 0 adds none."""
    common = {"regions": "rural", "start": "2020-04"}
    levers = []
    if travel_share > 0:
        levers.append({"kind": "travel_subsidy", "name": "app_travel_subsidy", "homes": TOKYO_AREA,
                       "share": travel_share, **common})
    if places_per_month > 0:
        levers.append({"kind": "intermediary", "name": "app_intermediary", "matches_per_month": places_per_month,
                       **common})
    if coordinator_staff > 0:
        levers.append({"kind": "coordinator", "name": "app_coordinator", "staff": coordinator_staff, **common})
    if grant_man_yen > 0:
        levers.append({"kind": "relocation_grant", "name": "app_relocation_grant", "origins": [13],
                       "household_yen": grant_man_yen * 1e4, "single_yen": grant_man_yen * 0.6e4, **common})
    return levers


class AppModel(RelationModel):
    """`RelationModel` built from the app's controls: a scenario name, lever sizes, scale and language.

    Its signature has no `scenario` argument on purpose: SolaraViz's Reset then re-creates the model
    from these keyword arguments alone.
    """

    def __init__(self, scenario_name: str = "baseline", travel_share: float = 0.0, places_per_month: int = 0,
                 coordinator_staff: int = 0, grant_man_yen: int = 0, people_per_agent: int = 2000,
                 lang: Lang = "ja", rng: int | None = None) -> None:
        scenario = load_scenario(SCENARIO_DIR / f"{scenario_name}.toml")
        existing = scenario.config.model_dump(mode="python")["levers"]
        extra = added_levers(travel_share, places_per_month, coordinator_staff, grant_man_yen)
        super().__init__(scenario=scenario, rng=rng, **{"levers": existing + extra,
                                                       "run.people_per_agent": people_per_agent})
        self.lang = lang


def _figure(fig: plt.Figure):
    plt.close(fig)                      # rendered by Solara, not kept by pyplot
    return solara.FigureMatplotlib(fig, format="png", dpi=90)


def StagesView(model: AppModel):
    """People by stage so far."""
    return _figure(figures.stages_over_time(model.results(), lang=model.lang))


def MapView(model: AppModel):
    """関係人口 per 1,000 adults by prefecture, now."""
    values = figures.engaged_per_1000_adults(model.results(), model.population())
    names = model.regions_frame().set_index("region")["name_ja" if model.lang == "ja" else "name_en"]
    date = model.dates[model.steps].strftime("%Y-%m")
    return _figure(figures.prefecture_map(values, lang=model.lang, names=names, title=date,
                                          label=t("people", model.lang) + " / 1,000"))


def SpendingView(model: AppModel):
    """Spending to date per lever and payer, and the total in words (for screen readers and tests)."""
    spending = model.spending()
    total = float(spending["yen"].sum()) if len(spending) else 0.0
    with solara.Column() as column:
        solara.Text(f"{t('spending_to_date', model.lang)}: ¥{total:,.0f}")
        _figure(figures.spending_by_lever(spending, lang=model.lang))
    return column


MODEL_PARAMS = {
    "scenario_name": {"type": "Select", "value": "baseline", "values": SCENARIOS, "label": "シナリオ / scenario"},
    "travel_share": {"type": "SliderFloat", "value": 0.0, "min": 0.0, "max": 1.0, "step": 0.05,
                     "label": "移動費支援 / travel share"},
    "places_per_month": {"type": "SliderInt", "value": 0, "min": 0, "max": 50, "step": 5,
                         "label": "受入枠 / places/month"},
    "coordinator_staff": {"type": "SliderInt", "value": 0, "min": 0, "max": 10, "step": 1,
                          "label": "コーディネーター / staff"},
    "grant_man_yen": {"type": "SliderInt", "value": 0, "min": 0, "max": 300, "step": 10,
                      "label": "移住支援金 / grant 万円"},
    "people_per_agent": {"type": "Select", "value": 2000, "values": [500, 1000, 2000, 5000],
                         "label": "people per agent"},
    "lang": {"type": "Select", "value": "ja", "values": ["ja", "en"], "label": "言語 / language"},
}

page = SolaraViz(AppModel(), components=[StagesView, MapView, SpendingView], model_params=MODEL_PARAMS,
                 name="Kankei 関係人口", render_interval=12)
