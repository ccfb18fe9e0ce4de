"""The dashboard in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by
Selenium; ``./run test`` installs both): log in, change the survey selector, move the confidence
slider, open a photo, save a correction and read it back. A screenshot of each view is kept in
``test-artifacts/`` for a person to look at. Nothing is loaded from outside the machine."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import REPO
from dashboard_kit import DashboardServer, build_surveys

CHROMIUM = os.environ.get("IRBIS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("IRBIS_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="module")
def server(kit, irbis_home, tmp_path_factory):
    surveys = build_surveys(kit, irbis_home / "dash-surveys")
    state = tmp_path_factory.mktemp("dash-browser") / "state"
    s = DashboardServer([surveys["north"], surveys["south"], "--deployments", surveys["deployments"]], state).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        pytest.fail(f"{missing} not found: install Debian's chromium and chromium-driver (./run test does, as root)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    opts = Options()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1100",
              "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):   # nothing off this machine
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    yield d
    d.quit()


def _card(d, key: str) -> str | None:
    """A totals card's number (read in the page: the cards are redrawn on every filter change)."""
    return d.execute_script("const b = document.querySelector(`#totals .card[data-key=\"${arguments[0]}\"] b`); "
                            "return b ? b.textContent : null", key)


def _shot(d, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    d.save_screenshot(str(path))
    return path


def test_dashboard_in_chromium(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait
    d, wait = browser, WebDriverWait(browser, 60)
    d.get(server.url + "/")
    assert d.current_url.endswith("/login")
    d.find_element(By.ID, "token").send_keys(server.token)
    d.find_element(By.ID, "login").click()
    wait.until(lambda d: d.execute_script("return document.body.dataset.ready") == "1")
    wait.until(lambda d: _card(d, "photos") == "15")
    assert _card(d, "failures") == "1"
    assert d.find_elements(By.CSS_SELECTOR, "#map circle.site") and d.find_elements(By.CSS_SELECTOR, "#basemap path")
    assert _shot(d, "dashboard-overview.png").stat().st_size > 10_000

    # survey selector: the counts change
    Select(d.find_element(By.ID, "survey")).select_by_value("north")
    wait.until(lambda d: _card(d, "photos") == "10")
    assert _card(d, "failures") == "0"

    # the slider moves photos from non-empty to empty, live
    empty_before = int(_card(d, "empty"))
    slider = d.find_element(By.ID, "conf")
    slider.send_keys(*[Keys.ARROW_RIGHT] * 15)            # 0.20 -> 0.95
    wait.until(lambda d: d.find_element(By.ID, "conf-value").text == "0.95")
    wait.until(lambda d: int(_card(d, "empty") or 0) > empty_before)

    # review grid: boxes drawn, then open a photo
    slider.send_keys(*[Keys.ARROW_LEFT] * 15)
    d.find_element(By.CSS_SELECTOR, "nav button[data-tab=review]").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#grid .tile"))
    wait.until(lambda d: d.execute_script(
        "return [...document.querySelectorAll('#grid img')].every(i => i.complete && i.naturalWidth > 0)"))
    assert d.find_elements(By.CSS_SELECTOR, "#grid .tile rect.box")
    _shot(d, "dashboard-review.png")
    tiles = d.find_elements(By.CSS_SELECTOR, "#grid .tile")
    photo_id = tiles[0].get_attribute("data-id")
    tiles[0].click()
    wait.until(lambda d: d.find_element(By.ID, "photo-view").is_displayed())
    wait.until(lambda d: d.execute_script("const i = document.getElementById('photo-img'); "
                                          "return i.complete && i.naturalWidth > 0"))
    assert d.find_elements(By.CSS_SELECTOR, "#burst img")

    # save a correction and read it back (page and API)
    Select(d.find_element(By.ID, "corr-kind")).select_by_value("species")
    Select(d.find_element(By.ID, "corr-label")).select_by_value("animal")
    d.find_element(By.ID, "save-correction").click()
    wait.until(lambda d: d.find_element(By.ID, "corr-status").text == "saved")
    assert "species = animal" in d.find_element(By.ID, "corr-list").text
    _shot(d, "dashboard-photo.png")
    with server.client() as c:
        kinds = [(x["kind"], x["value"]) for x in c.get(f"/api/photo/{photo_id}").json()["corrections"]]
    assert kinds == [("species", "animal")]

    # everything the page loaded came from this server
    urls = d.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert urls and all(u.startswith(server.url) for u in urls), [u for u in urls if not u.startswith(server.url)]
