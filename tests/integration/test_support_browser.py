"""The support pages in headless Chromium (Debian's `chromium`, driven by Playwright; nothing is downloaded).

Screenshots are kept under var/test-artifacts/screenshots/ (git-ignored) for people to look at. Without a
browser the tests are skipped, except under CI=true, where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gateway.app import create_app
from gateway.billing.core.reference import format_national
from gateway.config import PROJECT_ROOT, Settings
from gateway.queries import invoices
from gateway.store.db import make_engine
from tests.support.databases import fresh_database_url
from tests.support.live_app import serve_app
from tests.support.support_data import IDENTITY_CODE, POINT, Scenario, populate

CHROMIUM = os.environ.get("GATEWAY_TEST_CHROMIUM", "/usr/bin/chromium")
SHOTS = PROJECT_ROOT / "var" / "test-artifacts" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]


def _browser_missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; under CI a missing browser is a failure (make test installs chromium as root)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _browser_missing(f"no Chromium at {CHROMIUM} (apt-get install chromium chromium-driver)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _browser_missing("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=120_000)
        yield launched
        launched.close()


_ENGINES: dict[str, Engine] = {}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Scenario]]:
    work = tmp_path_factory.mktemp("browser")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with fresh_database_url("sqlite", work, migrated=True) as url:
        engine = make_engine(url)
        scenario = populate(engine, work)
        with serve_app(create_app(Settings(database_url=url), engine)) as base:
            _ENGINES[base] = engine
            yield base, scenario
        engine.dispose()


def _engine(base: str, scenario: Scenario) -> Engine:
    return _ENGINES[base]


def _page(browser: Any) -> Any:
    page = browser.new_page(viewport={"width": 1300, "height": 950})
    page.set_default_timeout(60_000)  # a busy machine renders slowly; nothing here waits on wall time otherwise
    return page


def _login(page: Any, base: str, token: str, target: str = "/support/messages") -> None:
    page.goto(base + target)
    assert "/support/login" in page.url
    page.fill("#token", token)
    page.click("#login")
    page.wait_for_url(f"**{target}*")


def _shot(page: Any, name: str, full: bool = True) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full)


def test_support_user_finds_a_rejected_message_and_sees_its_error_at_its_line(
        browser: Any, site: tuple[str, Scenario]) -> None:
    base, scenario = site
    page = _page(browser)
    page.goto(base + "/support/login")
    assert page.locator("h1").inner_text() == "Kirjaudu"  # Finnish by default
    _shot(page, "01-login")
    page.fill("#token", "gw_not-a-token")
    page.click("#login")
    assert page.locator("#login-error").is_visible()
    _login(page, base, scenario.tokens["support"])

    page.goto(base + "/support/messages?lang=en")
    assert page.locator("h1").inner_text() == "Messages"
    page.select_option("select[name=status]", "rejected")
    page.click("#search")
    page.wait_for_url("**status=rejected*")
    rows = page.locator("#message-log tbody tr")
    assert rows.count() == 3
    _shot(page, "02-message-log-rejected")

    page.click("text=e66-support-schema-invalid")
    page.wait_for_selector("#errors")
    assert page.locator("#status").inner_text() == "rejected"
    page.click("#errors a[href='#L80']")
    marked = page.locator("tr#L80")
    assert "err" in (marked.get_attribute("class") or "")
    assert "minInclusive" in marked.inner_text() and "-1.5" in marked.inner_text()
    _shot(page, "03-message-error-at-line", full=False)
    page.click("#view-pretty")
    page.wait_for_url("**view=pretty*")
    assert page.locator("#raw tr.err").count() == 1
    assert "-1.5" in page.locator("#raw tr.err").inner_text()
    timeline = page.locator("#timeline").inner_text()
    assert "received" in timeline and "rejected" in timeline
    page.close()


def test_identity_codes_stay_masked_on_every_page_a_support_user_opens(
        browser: Any, site: tuple[str, Scenario]) -> None:
    base, scenario = site
    page = _page(browser)
    _login(page, base, scenario.tokens["support"])
    for name in ("f01", "f04", "f01-invalid"):
        page.goto(f"{base}/support/messages/{scenario.ids[name]}")
        content = page.content()
        assert IDENTITY_CODE not in content and "131052-308U" not in content
        assert "131052-****" in content
    _shot(page, "04-customer-message-masked")
    assert page.locator("text=Näytä henkilötunnus").count() == 0  # no reveal form for support
    page.close()


def test_accounting_point_page_charts_consumption_and_prices_and_compares_products(
        browser: Any, site: tuple[str, Scenario]) -> None:
    base, scenario = site
    page = _page(browser)
    _login(page, base, scenario.tokens["support"])
    page.fill("header input[name=gsrn]", POINT)
    page.press("header input[name=gsrn]", "Enter")
    page.wait_for_url(f"**/support/accounting-points/{POINT}")
    assert page.locator("#consumption-chart svg rect.bar").count() == 31
    assert page.locator("#consumption-chart svg polyline.price").count() == 1
    table = page.locator("#what-if tbody tr")
    assert table.count() == 5
    current = page.locator("#what-if tr.current")
    assert current.count() == 1 and current.get_attribute("data-product") == "EM-SPOT"
    assert page.locator("#what-if-chart svg polyline.product").count() == 5
    _shot(page, "05-accounting-point")
    page.click("#ratings a")
    page.wait_for_selector("#behind")
    assert page.locator("#behind tbody tr").count() == 31
    _shot(page, "06-rating-lineage")
    page.locator("#behind a").first.click()
    page.wait_for_selector("#raw")
    assert "E66" in page.locator("h1").inner_text()
    page.close()


def test_billing_admin_replays_a_dead_letter(browser: Any, site: tuple[str, Scenario]) -> None:
    base, scenario = site
    page = _page(browser)
    _login(page, base, scenario.tokens["support"], "/support/dead-letters")
    assert page.locator(f"#replay-{scenario.dead_letter_id}").count() == 0  # support may look, not replay
    page.click("header button")  # log out
    page.wait_for_url("**/support/login")
    _login(page, base, scenario.tokens["billing-admin"], "/support/dead-letters")
    assert "unreachable" in page.locator("#dead-letters").inner_text()
    _shot(page, "07-dead-letters")
    page.click(f"#replay-{scenario.dead_letter_id}")
    page.wait_for_selector("#replayed")
    assert page.locator("#dead-letters tbody tr td.muted").count() == 1  # the list is empty now
    _shot(page, "08-dead-letter-replayed")
    page.goto(f"{base}/support/messages/{scenario.ids['outbound']}")
    assert "replayed" in page.locator("#timeline").inner_text()
    page.close()


def test_support_user_follows_an_invoice_line_back_to_the_e66_value_behind_it(
        browser: Any, site: tuple[str, Scenario]) -> None:
    """The end-to-end path the issue asks for: messages ingested and March billed (the scenario, through the real
    pipeline and billing run), then from the invoice search to the invoice, a line's explanation, and the raw
    E66 with the values that line used marked."""
    base, scenario = site
    page = _page(browser)
    _login(page, base, scenario.tokens["support"], "/support/invoices")
    corrected = scenario.invoices["retail-corrected"]
    with Session(_engine(base, scenario)) as s:
        summary = invoices.invoice_summary(s, corrected)
    assert summary is not None
    page.fill("input[name=reference]", format_national(summary["reference"]))  # as the customer reads it out
    page.click("#search")
    page.wait_for_url("**reference=*")
    assert page.locator("#invoice-list tbody tr").count() == 1
    _shot(page, "09-invoice-search")
    page.click(f"#invoice-list a[href='/support/invoices/{corrected}']")
    page.wait_for_selector("#lines")
    assert summary["number"] in page.locator("h1").inner_text()
    assert "e66-support-late-correction" in page.locator("#reason").inner_text()
    assert page.locator("#vat-summary tbody tr").count() == 2  # one rate and the total
    assert "estimated" in page.locator("#line-2").inner_text() or "arvioitu" in page.locator("#line-2").inner_text()
    assert page.locator("#correction #caused-by a.msg-link").first.inner_text() == scenario.ids["e66-late"]
    _shot(page, "10-invoice")
    page.click("#explain-2 summary")  # the spot energy line: why this amount?
    explanation = page.locator("#explain-2")
    assert "Σ" in explanation.inner_text() and scenario.ids["prices"] in explanation.inner_text()
    late = page.locator(f"#metering-2 a.value-link:text-is('{scenario.ids['e66-late']}')")
    assert late.count() == 1
    row_total = late.locator("xpath=ancestor::tr[1]").locator("td").nth(3).inner_text()
    _shot(page, "11-invoice-line-explained")
    late.click()
    page.wait_for_selector("#values-used")
    assert "E66" in page.locator("h1").inner_text()
    marked = page.locator("#raw tr.hl.val")
    assert marked.count() == 96  # every quarter of 20.3., QTY lines marked
    assert "<elm:QTY>" in marked.first.inner_text()
    assert page.locator("#values-total").inner_text() == row_total
    assert "QQ 99" in page.locator("#values-used").inner_text()  # the DSO's estimate, as the line's flag says
    assert page.locator("#hl").count() == 1
    _shot(page, "12-e66-values-marked", full=False)
    page.goto(f"{base}/support/invoices/{scenario.invoices['distribution']}?lang=en")
    assert page.locator("#electricity-tax").inner_text().startswith("Electricity tax")
    assert page.locator("#linked-documents a").count() >= 2  # its credit note and the corrected invoice
    with page.expect_download() as download:
        page.click("#download-pdf")
    assert download.value.suggested_filename.endswith(".pdf")
    _shot(page, "13-distribution-invoice-en")
    page.click("#customer-link")
    page.wait_for_selector("#customer-invoices")
    assert page.locator("#customer-invoices tbody tr").count() == 6
    assert IDENTITY_CODE not in page.content()
    _shot(page, "14-customer")
    page.close()


def test_billing_admin_allocates_an_unmatched_payment_and_the_invoice_shows_it(
        browser: Any, site: tuple[str, Scenario]) -> None:
    """The unmatched-payment flow: support can look but not allocate; a billing admin opens the queue, is refused
    more than the payment has left, allocates part of it to the corrected invoice, and the invoice page shows
    both its payments with the bank file they came in."""
    base, scenario = site
    number = scenario.numbers["retail-corrected"]
    page = _page(browser)
    _login(page, base, scenario.tokens["support"], "/support/unmatched-payments")
    page.click(f"#unmatched-{scenario.unmatched_id}")
    page.wait_for_selector("#unmatched-facts")
    assert page.locator("#allocate-form").count() == 0  # support may look, not allocate
    page.click("header button")  # log out
    page.wait_for_url("**/support/login")

    _login(page, base, scenario.tokens["billing-admin"], "/support/unmatched-payments")
    page.goto(base + "/support/unmatched-payments?lang=en")
    assert page.locator("h1").inner_text() == "Unmatched payments"
    row = page.locator(f"#unmatched-{scenario.unmatched_id}").locator("xpath=ancestor::tr[1]")
    assert "25,00" in row.inner_text() and "no open invoice with this reference" in row.inner_text()
    _shot(page, "15-unmatched-payments")
    page.click(f"#unmatched-{scenario.unmatched_id}")
    page.wait_for_selector("#allocate-form")
    page.fill("#invoice-number", number)
    page.fill("#allocate-amount", "30,00")
    page.click("#allocate")
    page.wait_for_selector("#allocation-error")
    assert "25.00" in page.locator("#allocation-error").inner_text()  # the payment has only that left
    assert page.locator("#remaining").inner_text() == "25,00"
    # A form whose CSRF token is not the session's is refused, and nothing is allocated.
    page.eval_on_selector("#allocate-form input[name=csrf]", "e => e.value = 'forged'")
    page.fill("#allocate-amount", "5,00")
    with page.expect_response(lambda r: r.url.endswith("/allocate")) as refused:
        page.click("#allocate")
    assert refused.value.status == 403
    page.goto(f"{base}/support/unmatched-payments/{scenario.unmatched_id}")
    assert page.locator("#remaining").inner_text() == "25,00"
    page.fill("#invoice-number", number)
    page.fill("#allocate-amount", "5,00")
    page.click("#allocate")
    page.wait_for_selector("#allocated")
    assert page.locator("#remaining").inner_text() == "20,00"
    assert page.locator("#allocations tbody tr").count() == 1
    _shot(page, "16-unmatched-payment-allocated")

    page.click(f"#allocations a[href='/support/invoices/{scenario.invoices['retail-corrected']}']")
    page.wait_for_selector("#payments")
    payments = page.locator("#payments tbody tr.payment")
    assert payments.count() == 2
    assert "10,00" in payments.nth(0).inner_text() and "bank" in payments.nth(0).inner_text()
    assert "5,00" in payments.nth(1).inner_text() and "by hand" in payments.nth(1).inner_text()
    assert page.locator("#paid-amount").inner_text() == "15,00"
    assert page.locator("#payments-status").inner_text() == "partially paid"
    page.locator("#payments").scroll_into_view_if_needed()
    _shot(page, "17-invoice-payments", full=False)
    page.locator("#payments a.msg-link").first.click()
    page.wait_for_selector("#bank-payments")
    assert "CAMT054" in page.locator("h1").inner_text()
    assert page.locator("#bank-payments tbody tr").count() == 2
    assert "invoice" in page.locator("#lineage").inner_text()  # on to the invoices the file paid
    page.close()
