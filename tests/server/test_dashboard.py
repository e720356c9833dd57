"""The dashboard in a real browser: Debian's Chromium driven by Playwright (never a
downloaded browser), against `fairtrail serve` on loopback. Loads each page, clicks
through a model, asserts on what a person would read, and saves screenshots to
docs/screenshots/ (the README shows them)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.server._fixtures import ROOT, Server

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "docs" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            "Debian's chromium is missing: `make test` installs it (scripts/system-deps.sh)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        yield b
        b.close()


def test_click_through_a_model(browser: Any, server: Server) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    outside: list[str] = []
    page.on(
        "request", lambda r: outside.append(r.url) if not r.url.startswith(server.url) else None
    )
    page.goto(server.url + "/")
    row = page.locator("#models tr[data-model='credit-model']")
    assert row.locator(".badge").inner_text() == "non-compliant"  # deployed, alerts open
    assert "production" in row.inner_text()
    page.screenshot(path=str(SHOTS / "models.png"), full_page=True)

    started = time.monotonic()
    row.locator("a").click()
    page.wait_for_selector("#model-name")
    assert time.monotonic() - started < 5
    assert page.locator("#badge").inner_text() == "non-compliant"
    assert "open monitoring alert" in page.locator("#alerts").inner_text()
    assert "Gate closed" in page.locator("#blocked").inner_text()
    # lineage: dataset -> training run -> model, each proved
    kinds = page.locator("svg.lineage g.node").evaluate_all("ns => ns.map(n => n.dataset.kind)")
    assert sorted(kinds) == ["dataset", "model", "training-run"]
    assert page.locator("#lineage").inner_text().count("proved at checkpoint") == 3
    # fairness per group with the policy's threshold drawn
    bars = page.locator("svg.chart rect[data-group]")
    assert bars.count() >= 4
    assert page.locator("svg.chart line.threshold").count() >= 1
    assert re.search(r"demographic_parity_ratio\s+0\.98", page.locator("#disparities").inner_text())
    # decisions with citations, the two reviewer approvals, monitoring trends
    decisions = page.locator(".decision")
    assert decisions.count() >= 3
    assert "EU AI Act Art. 72" in page.locator(".decision").first.inner_text()
    assert page.locator("#reviews").inner_text().count("approve") == 2
    assert page.locator("svg.chart polyline").count() >= 3
    page.screenshot(path=str(SHOTS / "model.png"), full_page=True)

    page.locator("#timeline a").first.click()
    page.wait_for_selector("h1")
    assert "included" in page.inner_text("main")

    page.click("#nav-verify")
    page.wait_for_selector("#checkpoint")
    assert "signature verified" in page.locator("#checkpoint").inner_text()
    size = int(page.locator("#checkpoint-size").inner_text())
    assert size == server.get("/api/v1/log").json()["checkpoint_size"]
    page.screenshot(path=str(SHOTS / "verify.png"), full_page=True)
    assert outside == []  # nothing loaded from anywhere else
    page.close()


def test_pages_answer_404_for_unknown_models(browser: Any, server: Server) -> None:
    page = browser.new_page()
    response = page.goto(server.url + "/models/sha256:" + "0" * 64)
    assert response is not None and response.status == 404
    assert "not recorded" in page.inner_text("body")
    page.close()
