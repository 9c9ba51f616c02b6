"""The SolaraViz app (`kankei app`) driven in headless Chromium: it loads, a slider moves, charts change."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from experiments.app import AppModel, added_levers

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]
REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("KANKEI_TEST_ARTIFACTS", REPO / "results" / "test-artifacts"))


def test_sliders_add_levers_that_spend():
    assert added_levers(0.0, 0, 0, 0) == []
    kinds = [lever["kind"] for lever in added_levers(0.5, 10, 2, 100)]
    assert kinds == ["travel_subsidy", "intermediary", "coordinator", "relocation_grant"]
    model = AppModel(intermediary_staff=5, coordinator_staff=2, people_per_agent=5000)
    model.run_for(12)
    spent = model.spending().groupby("lever")["yen"].sum()
    assert set(spent.index) == {"app_intermediary", "app_coordinator"} and (spent > 0).all()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(**popen) -> tuple[subprocess.Popen, str]:
    """`kankei app` on a free port, once its page answers; (process, url)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "experiments.cli", "app", "--port", str(port)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True, **popen)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    pytest.fail(f"the app did not start: {proc.communicate()[0][-2000:]}")


@pytest.fixture
def server():
    proc, url = start_app(stderr=subprocess.STDOUT)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def chart_sources(page) -> list[str]:
    return [img.get_attribute("src") or "" for img in page.locator("img").all()]


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)")
def test_app_in_a_browser(server):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server, timeout=60_000)
        spending = page.get_by_text("¥", exact=False)
        expect(spending).to_have_text("政策支出（累計）: ¥0", timeout=60_000)
        expect(page.locator("img")).to_have_count(3, timeout=30_000)       # stages, map, spending
        before = chart_sources(page)

        slider = page.locator(".v-input").filter(has_text="travel share").get_by_role("slider")
        slider.focus()
        for _ in range(10):
            slider.press("ArrowRight")
        expect(slider).to_have_attribute("aria-valuenow", "0.5")

        page.get_by_role("button", name="Reset").click()
        page.get_by_role("button", name="Step").click()
        expect(spending).not_to_have_text("政策支出（累計）: ¥0", timeout=60_000)
        after = chart_sources(page)
        assert len(after) == 3 and after[0] != before[0] and after[2] != before[2]   # stages and spending redrawn
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "app.png"), full_page=True)
        browser.close()
    assert (ARTIFACTS / "app.png").stat().st_size > 20_000


@pytest.mark.slow
def test_ctrl_c_stops_the_app_and_its_server_quietly():
    """One terminal Ctrl-C (SIGINT to the process group, twice as under `uv run`): exit 130 within
    seconds, one line, no traceback, and the server's port is closed afterwards."""
    import os
    import signal

    proc, url = start_app(stderr=subprocess.PIPE, start_new_session=True)
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 20
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "kankei: app stopped" in err
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)
