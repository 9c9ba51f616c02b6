"""Rebuild ohnan.csv from the sourced census figures (see ohnan.md for sources and caveats).

Run from the repository root: `uv run python scenarios/cases/data/ohnan_derive.py` prints the CSV;
`--check` compares it with scenarios/cases/data/ohnan.csv and exits 1 on any difference.

邑南町's 2020 census population by 5-year age band was not found in any stored source, so its 2020
adult bands are DERIVED by the cohort change ratio method (コーホート変化率法): for each cohort,
town_2020[a, a+4] = town_2015[a-5, a-1] × Shimane_2020[a, a+4] / Shimane_2015[a-5, a-1]
(open band: town_2020[85+] = town_2015[80+] × Shimane_2020[85+] / Shimane_2015[80+]),
i.e. 邑南町's 2015 census cohorts aged five years at Shimane's observed cohort change ratios.
Ten-year bands are the sums of the unrounded 5-year values, then rounded; pop_18_19 = 0.4 × [15–19]
as in scenarios/data/prefectures.md. The rest of Shimane is the prefecture row of
scenarios/data/prefectures.csv minus the town, band by band, so the two pieces sum to it exactly.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PREFECTURES = HERE.parents[1] / "data" / "prefectures.csv"
OUT = HERE / "ohnan.csv"

FIVE = ["0_4", "5_9", "10_14", "15_19", "20_24", "25_29", "30_34", "35_39", "40_44", "45_49",
        "50_54", "55_59", "60_64", "65_69", "70_74", "75_79", "80_84", "85_89", "90_plus"]
# 2015 census (平成27年国勢調査), age-known persons by 5-year band; aiseed-dev/ecitizen
# data/legacy/App_Data/Population2015/{City/pd32449.json, Pref/pd32.json}, commit 21a7923e, last column.
OHNAN_2015 = dict(zip(FIVE, [361, 396, 425, 380, 204, 357, 407, 498, 587, 490, 535, 726, 935, 1062, 793, 746,
                             829, 764, 585]))
SHIMANE_2015 = dict(zip(FIVE, [26929, 28598, 30529, 31126, 24854, 28673, 33915, 39702, 44224, 38299, 39816, 44427,
                               51841, 58378, 42872, 39199, 38046, 26963, 17190]))
# 2020 census (令和2年国勢調査, e-Stat 0003445217), Shimane, 男女計; japan-population/japan-population.github.io
# public/data/regional/past-2020.json key "32".groups.total.rows, commit 02a9b464.
SHIMANE_2020 = {"15_19": 29813, "20_24": 24179, "25_29": 26608, "30_34": 30254, "35_39": 35115, "40_44": 40509,
                "45_49": 44705, "50_54": 38319, "55_59": 39463, "60_64": 43691, "65_69": 50085, "70_74": 55306,
                "75_79": 39014, "80_84": 33545, "85_plus": 28547 + 15600 + 5784}

BANDS = ["pop_18_19", "pop_20_29", "pop_30_39", "pop_40_49", "pop_50_59", "pop_60_69", "pop_70_79", "pop_80_plus"]
COLUMNS = ["code", "name_ja", "name_en", "kind", "metro_area", "lat", "lon", *BANDS, "municipalities"]
# 邑南町役場 (Ohnan town office): code4fukui/localgovjp localgovjp-utf8.csv, commit 059e8e91, row lgcode 324493.
OHNAN_OFFICE = (34.8939, 132.4378)


def ohnan_2020() -> dict[str, float]:
    """邑南町's 2020 adults by 5-year band (15–19 … 80–84, 85+), unrounded, by the cohort change ratio."""
    out = {}
    for i, band in enumerate(FIVE[3:17], start=3):  # 2020 bands 15–19 … 80–84 from 2015 bands 10–14 … 75–79
        prev = FIVE[i - 1]
        out[band] = OHNAN_2015[prev] * SHIMANE_2020[band] / SHIMANE_2015[prev]
    older = ("80_84", "85_89", "90_plus")
    out["85_plus"] = (sum(OHNAN_2015[b] for b in older) * SHIMANE_2020["85_plus"]
                      / sum(SHIMANE_2015[b] for b in older))
    return out


def ohnan_bands() -> dict[str, int]:
    """The town's adult bands in the table's format."""
    t = ohnan_2020()
    ten = {
        "pop_18_19": 0.4 * t["15_19"],
        "pop_20_29": t["20_24"] + t["25_29"], "pop_30_39": t["30_34"] + t["35_39"],
        "pop_40_49": t["40_44"] + t["45_49"], "pop_50_59": t["50_54"] + t["55_59"],
        "pop_60_69": t["60_64"] + t["65_69"], "pop_70_79": t["70_74"] + t["75_79"],
        "pop_80_plus": t["80_84"] + t["85_plus"],
    }
    return {k: int(round(v)) for k, v in ten.items()}


def prefecture_rows() -> dict[int, dict[str, str]]:
    with PREFECTURES.open(encoding="utf-8") as fh:
        return {int(r["code"]): r for r in csv.DictReader(fh)}


def build() -> str:
    """The CSV text: 邑南町, the rest of Shimane, Tokyo."""
    prefs = prefecture_rows()
    shimane, tokyo = prefs[32], prefs[13]
    town = ohnan_bands()
    rows = [
        [32449, "邑南町", "Ohnan", "rural", "none", *OHNAN_OFFICE, *[town[b] for b in BANDS], 1],
        [32, "島根県（邑南町を除く）", "Shimane excl. Ohnan", "rural", "none", shimane["lat"], shimane["lon"],
         *[int(shimane[b]) - town[b] for b in BANDS], int(shimane["municipalities"]) - 1],
        [13, tokyo["name_ja"], tokyo["name_en"], "metro", "tokyo", tokyo["lat"], tokyo["lon"],
         *[int(tokyo[b]) for b in BANDS], int(tokyo["municipalities"])],
    ]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return buf.getvalue()


if __name__ == "__main__":
    text = build()
    if "--check" in sys.argv:
        same = OUT.read_text(encoding="utf-8") == text
        print("ohnan.csv matches its derivation" if same else "ohnan.csv differs from its derivation")
        sys.exit(0 if same else 1)
    sys.stdout.write(text)
