"""`kankei report`: one self-contained HTML page from a run, a comparison or a sweep folder."""

from __future__ import annotations

import re

import pytest

from experiments.cli import main
from experiments.runs import write_outputs
from figure_data import REPO, TINY, function_sweep, tiny_run
from model import load_scenario

SET = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")]


def embedded_images(page: str) -> int:
    return len(re.findall(r'<img alt="" src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}">', page))


def assert_offline(page: str) -> None:
    assert not re.search(r'(src|href)="(https?:)?//', page), "the page must not load anything"
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    scenario = load_scenario(overrides=TINY)
    return write_outputs(tiny_run(), scenario, tmp_path_factory.mktemp("run") / "baseline")


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_report_of_a_run(run_dir, lang, capsys):
    assert main(["report", str(run_dir), "--lang", lang]) == 0
    path = run_dir / f"report-{lang}.html"
    assert str(path) in capsys.readouterr().out
    page = path.read_text(encoding="utf-8")
    assert_offline(page)
    assert embedded_images(page) == 3                       # stages, funnel, map
    assert f'<html lang="{lang}">' in page
    assert ("シナリオ実行の報告" in page) == (lang == "ja") and ("Run report" in page) == (lang == "en")
    manifest = (run_dir / "manifest.json").read_text()
    digest = re.search(r'"parameter_hash": "([0-9a-f]{64})"', manifest).group(1)
    assert digest in page and "people_per_agent" in page    # manifest and scenario
    assert "関係人口 (engaged)" in page and "fiscal_year" in page         # summary and settlers tables


def test_report_of_a_comparison(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", str(REPO / "tests/scenarios/policy_cko.toml"),
                 "--baseline", str(REPO / "scenarios/baseline.toml"), "--reps", "2", *SET,
                 "--out", str(out), "--quiet"]) == 0
    assert main(["report", str(out), "--lang", "ja", "--out", str(tmp_path / "c.html")]) == 0
    page = (tmp_path / "c.html").read_text(encoding="utf-8")
    assert_offline(page)
    assert embedded_images(page) == 1 and "policy_cko" in page and "政策比較の報告" in page
    assert "効果の区間がゼロを含む場合" in page


def test_report_of_a_sensitivity_sweep(tmp_path):
    function_sweep(tmp_path / "sobol", "sobol")
    assert main(["report", str(tmp_path / "sobol")]) == 0
    page = (tmp_path / "sobol" / "report-en.html").read_text(encoding="utf-8")
    assert_offline(page)
    assert embedded_images(page) == 1 and "Sweep report" in page and "x3" in page and "ishigami" in page


def test_an_unrecognised_folder_is_refused(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not results")
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a Kankei results folder" in err and "manifest.json" in err and str(tmp_path) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert main(["report", str(tmp_path / "missing")]) == 2
