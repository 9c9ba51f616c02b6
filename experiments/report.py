"""One self-contained HTML report (報告書) of a results folder: figures embedded as PNG, tables,
scenario and manifest; it opens offline and prints.

`kankei report DIR [--lang ja|en]` recognises the folders Kankei writes:

- a run (`kankei run`): `manifest.json` and `stages.parquet`;
- a comparison (`kankei compare`): `table.parquet`, `cost.parquet` and `series.parquet`;
- a sweep (`kankei sweep` / `kankei sensitivity`): `_sweep/sweep.json`.

Any other folder is refused with a `ScenarioError` (exit status 2 from the command line).
"""

from __future__ import annotations

import base64
import html
import io
import json
from datetime import datetime, timezone
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from experiments import figures
from experiments.compare import Comparison
from experiments.figures.text import Lang, t
from experiments.store import (SPEC_FILE, SWEEP_FILE, atomic_write, load_runs, load_summary, parameter_columns,
                               sweep_info)
from model.parameters import ScenarioError

KINDS = {
    "run": ("manifest.json", "stages.parquet"),
    "compare": ("table.parquet", "cost.parquet", "series.parquet"),
    "sweep": (SWEEP_FILE,),
}
HEADINGS: dict[str, tuple[str, str]] = {
    "run": ("シナリオ実行の報告", "Run report"),
    "compare": ("政策比較の報告", "Policy comparison report"),
    "sweep": ("パラメータ掃引の報告", "Sweep report"),
    "folder": ("フォルダ", "folder"),
    "generated": ("作成日時", "generated"),
    "summary": ("段階別の人数（全国、反復平均）", "People by stage (national, mean over replications)"),
    "settlers_per_year": ("年度別の移住者と再転出者", "Settlers and leavers per fiscal year"),
    "spending_table": ("施策・負担者別の支出（円）", "Spending by lever and payer (yen)"),
    "map_title": ("関係人口（成人千人あたり・期末）", "関係人口 per 1,000 adults at the end"),
    "manifest": ("来歴（マニフェスト）", "Provenance (manifest)"),
    "scenario": ("シナリオ（検証済みのパラメータ）", "Scenario (validated parameters)"),
    "differences": ("基準との差（平均差の90%ブートストラップ区間）",
                    "Differences from the baseline (90 % bootstrap interval of the mean paired difference)"),
    "costs": ("支出と費用対効果（円）", "Spending and cost per outcome (yen)"),
    "cost_rule": ("効果の区間がゼロを含む場合、成果あたり費用は示さない。",
                  "Where an effect's interval includes zero, no cost per outcome is given."),
    "runs": ("実行一覧", "Runs"),
    "transfers": ("支出以外の資金の流れ（年度別・ふるさと納税など）",
                  "Money moved besides spending, by fiscal year (ふるさと納税 and the like)"),
    "sweep_info": ("掃引の設定", "The sweep"),
    "spec": ("実験仕様（spec.toml）", "Experiment spec (spec.toml)"),
    "run_status": ("実行の状態", "Run status"),
    "outcomes_by_point": ("設計点ごとの成果（反復平均）", "Outcomes per design point (mean over replications)"),
    "sensitivity": ("感度指数", "Sensitivity indices"),
    "sensitivity_pending": ("全ての設計点が終わるまで感度指数は計算できない。",
                            "The indices need every design point to have finished."),
}
STYLE = """
body { font-family: "IPAexGothic", "Hiragino Sans", "Noto Sans CJK JP", sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #222; }
h1 { border-bottom: 2px solid #2a6f97; } h2 { color: #2a6f97; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; } th { background: #eef3f7; }
img { max-width: 100%; } pre { background: #f6f6f6; padding: 0.6em; font-size: 0.75em; white-space: pre-wrap; }
.meta { color: #555; font-size: 0.9em; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } img, table { break-inside: avoid; } }
"""


def folder_kind(directory: Path) -> str:
    """'run', 'compare' or 'sweep'; any other folder is refused."""
    if not directory.is_dir():
        raise ScenarioError(directory, "", "no such folder")
    for kind, files in KINDS.items():
        if all((directory / f).is_file() for f in files):
            return kind
    expected = "; ".join(f"{kind}: {', '.join(files)}" for kind, files in KINDS.items())
    raise ScenarioError(directory, "", f"not a Kankei results folder (a report needs one of {expected})")


def _h(key: str, lang: Lang) -> str:
    t("people", lang)  # validates lang
    ja, en = HEADINGS[key]
    return ja if lang == "ja" else en


def _png(fig: plt.Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return f'<img alt="" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _table(frame: pd.DataFrame, index: bool = False) -> str:
    return frame.to_html(index=index, float_format=lambda v: f"{v:,.6g}" if abs(v) < 1000 else f"{v:,.0f}",
                         border=0, na_rep="–")


def _pre(text: str) -> str:
    return f"<pre>{html.escape(text)}</pre>"


def _run_sections(d: Path, lang: Lang) -> list[tuple[str, str]]:
    manifest = json.loads((d / "manifest.json").read_text())
    stages = pd.read_parquet(d / "stages.parquet")
    flows = pd.read_parquet(d / "flows.parquet")
    population = pd.read_parquet(d / "population.parquet")
    spending = pd.read_parquet(d / "spending.parquet")
    sections = [(t("stages", lang), _png(figures.stages_over_time(stages, lang=lang))),
                (t("funnel", lang), _png(figures.ladder_funnel(stages, flows, lang=lang))),
                (_h("map_title", lang), _png(figures.prefecture_map(
                    figures.engaged_per_1000_adults(stages, population), lang=lang, label=_h("map_title", lang))))]
    for name, key in (("summary.csv", "summary"), ("settlers_per_year.csv", "settlers_per_year")):
        if (d / name).is_file():
            sections.append((_h(key, lang), _table(pd.read_csv(d / name, index_col=0), index=True)))
    if not spending.empty:
        per_lever = spending.pivot_table(index="lever", columns="payer", values="yen", aggfunc="sum", observed=True)
        sections.append((_h("spending_table", lang), _png(figures.spending_by_lever(spending, lang=lang))
                         + _table(per_lever / spending["rep"].nunique(), index=True)))
    info = {k: v for k, v in manifest.items() if k != "parameters"}
    sections.append((_h("manifest", lang), _pre(json.dumps(info, indent=2, ensure_ascii=False))))
    sections.append((_h("scenario", lang), _pre(json.dumps(manifest["parameters"], indent=2, ensure_ascii=False))))
    return sections


def _compare_sections(d: Path, lang: Lang) -> list[tuple[str, str]]:
    frames = {n: pd.read_parquet(d / f"{n}.parquet") for n in ("table", "cost", "series")}
    runs = pd.read_parquet(d / "runs.parquet") if (d / "runs.parquet").is_file() else pd.DataFrame()
    comparison = Comparison(runs=runs, **frames)
    costs = pd.concat({outcome: figures.cost_per_outcome(comparison.table, comparison.cost, outcome)
                       for outcome in ("settlers_total", "engaged_person_years")}, names=["outcome", "policy"])
    sections = [(t("engaged_diff", lang), _png(figures.lever_comparison(comparison, lang=lang))),
                (_h("differences", lang), _table(comparison.table)),
                (_h("costs", lang), f"<p>{_h('cost_rule', lang)}</p>" + _table(costs.reset_index()))]
    transfers = d / "transfers.parquet"
    if transfers.is_file() and not (book := pd.read_parquet(transfers)).empty:
        sections.append((_h("transfers", lang), _table(book)))
    if not runs.empty:
        sections.append((_h("runs", lang), _table(runs[["policy", "rep", "seed"]])))
    return sections


def _sweep_sections(d: Path, lang: Lang) -> list[tuple[str, str]]:
    from experiments.sensitivity import analyze

    info = sweep_info(d)
    runs = load_runs(d)
    about = {k: info[k] for k in ("name", "design", "parameters", "points", "runs", "root_seed", "posterior")
             if k in info and (k != "posterior" or info[k])}
    sections = [(_h("sweep_info", lang), _pre(json.dumps(about, indent=2, ensure_ascii=False))),
                (_h("run_status", lang), _table(runs["status"].value_counts().rename_axis("status").reset_index()))]
    if (d / SPEC_FILE).is_file():
        sections.append((_h("spec", lang), _pre((d / SPEC_FILE).read_text())))
    summary = load_summary(d)
    if not summary.empty:
        params = [p for p in info["parameters"] if p in summary.columns]
        outcomes = [c for c in summary.columns if c not in ("run", "point", "rep", "seed", *parameter_columns(info))]
        means = summary.groupby(["point", *params])[outcomes].mean().reset_index()
        sections.append((_h("outcomes_by_point", lang), _table(means)))
    if info["design"] in ("sobol", "morris"):
        if (runs["status"] == "ok").all():
            sections.append((_h("sensitivity", lang), _png(figures.sensitivity_indices(analyze(d), lang=lang))))
        else:
            sections.append((_h("sensitivity", lang), f"<p>{_h('sensitivity_pending', lang)}</p>"))
    return sections


SECTIONS = {"run": _run_sections, "compare": _compare_sections, "sweep": _sweep_sections}


def build_report(directory: str | Path, lang: Lang = "en") -> str:
    """The HTML page for a run, comparison or sweep folder."""
    d = Path(directory)
    kind = folder_kind(d)
    sections = SECTIONS[kind](d, lang)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = "\n".join(f"<h2>{html.escape(title)}</h2>\n{content}" for title, content in sections)
    return (f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
            f"<title>Kankei: {html.escape(_h(kind, lang))} – {html.escape(d.name)}</title><style>{STYLE}</style></head>"
            f"<body><h1>Kankei（関係）: {html.escape(_h(kind, lang))}</h1>"
            f'<p class="meta">{_h("folder", lang)}: {html.escape(str(d))}<br>{_h("generated", lang)}: {stamp}</p>'
            f"{body}</body></html>\n")


def write_report(directory: str | Path, lang: Lang = "en", out: str | Path | None = None) -> Path:
    """Build the report and write it (default `DIR/report-<lang>.html`) all at once."""
    page = build_report(directory, lang)
    path = Path(out) if out else Path(directory) / f"report-{lang}.html"
    atomic_write(path, page.encode("utf-8"))
    return path
