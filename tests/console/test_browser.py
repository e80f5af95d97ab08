"""The console driven in a real headless Chromium, against real nodes over real TLS: the main journeys of an
operator, in order (each builds on what the one before left), every page saved as a screenshot in
test-artifacts/console/.

The consumer's console is reached over HTTPS (its management listener serves TLS), the provider's over plain
HTTP on loopback.
"""

from __future__ import annotations

import time

import pytest
from console.browser import shoot, until
from console.kit import WEATHER
from nodekit import API_KEY
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from trust_e2e.kit import RawPeer

from connector.evidence.audit import SEAL_KINDS

pytestmark = pytest.mark.e2e


def text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def sign_in(driver, console: str) -> None:
    driver.get(console + "login")
    key = until(lambda: driver.find_element(By.ID, "key"), what="the sign-in form")
    key.send_keys(API_KEY)
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    until(lambda: driver.find_element(By.ID, "trust-h"), what="the node page")


def submit(driver, form) -> None:
    form.find_element(By.CSS_SELECTOR, "button[type=submit].primary, button[type=submit]").click()


def downloaded(driver, suffix: str, timeout: float = 20):
    def found():
        files = [p for p in driver.downloads.iterdir() if p.name.endswith(suffix)]
        return files[0] if files else None

    return until(found, timeout, f"a downloaded {suffix} file")


def test_sign_in_with_the_api_key_opens_the_node_page(driver, space):
    driver.get(space.consumer_console)
    until(lambda: driver.find_element(By.ID, "key"), what="the sign-in form")
    assert "/console/login" in driver.current_url
    shoot(driver, "01-login")
    driver.find_element(By.ID, "key").send_keys("not-the-key-at-all")
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    error = until(lambda: driver.find_element(By.ID, "key-error"), what="the wrong key's error")
    assert "not this node's API key" in error.text
    assert driver.find_element(By.ID, "key").get_attribute("aria-invalid") == "true"
    shoot(driver, "02-login-wrong-key")
    driver.find_element(By.ID, "key").send_keys(API_KEY)
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    until(lambda: driver.find_element(By.ID, "trust-h"), what="the node page")
    body = text(driver)
    assert space.consumer.participant_id in body and "Healthy" in body
    assert "Test Federation" in body and "valid" in body and "OrganizationCredential" in body
    assert "TLS certificate" in body and "revocation list" in body
    assert API_KEY not in driver.page_source and API_KEY not in driver.current_url
    cookie = driver.get_cookie("connector_console")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    shoot(driver, "03-node")


def test_a_peers_catalogue_and_a_negotiation_with_a_declared_purpose(driver, space):
    driver.find_element(By.LINK_TEXT, "Catalogue").click()
    driver.find_element(By.ID, "address").send_keys(space.provider_dsp)
    driver.find_element(By.CSS_SELECTOR, "form.ask button[type=submit]").click()
    until(lambda: driver.find_element(By.ID, "catalog-h"), what="the catalogue")
    assert "3 datasets offered to this node by" in text(driver)
    assert "permission use: purpose eq research" in text(driver)
    shoot(driver, "04-catalogue")
    survey = driver.find_element(By.XPATH, "//article[.//code[text()='survey']]")
    survey.find_element(By.NAME, "purpose").send_keys("research")
    survey.find_element(By.CSS_SELECTOR, "button[value=negotiate]").click()
    until(lambda: "FINALIZED" in driver.find_element(By.TAG_NAME, "h1").text, what="the agreement")
    body = text(driver)
    assert "Declared purpose\nresearch" in body
    assert "REQUESTED → AGREED" in body and "VERIFIED → FINALIZED" in body
    shoot(driver, "05-negotiation-consumer")


def test_the_provider_shows_the_policy_trace_and_the_consumers_verified_claims(driver, space):
    sign_in(driver, space.provider_console)
    driver.find_element(By.LINK_TEXT, "Negotiations").click()
    Select(driver.find_element(By.ID, "role")).select_by_visible_text("provider")
    driver.find_element(By.CSS_SELECTOR, "form.filters button").click()
    until(lambda: "role=provider" in driver.current_url, what="the provider's negotiations")
    driver.find_element(By.XPATH, "//tr[td[text()='survey']]//a").click()
    until(lambda: driver.find_element(By.ID, "decisions-h"), what="the negotiation page")
    trace = driver.find_element(By.CSS_SELECTOR, "ul.trace").text
    assert "purpose eq research" in trace and "SATISFIED" in trace
    claims = driver.find_element(By.XPATH, "//section[h2[@id='claims-h']]").text
    assert "OrganizationCredential" in claims and "JP" in claims and "Consumer Ltd" in claims
    assert "Test Federation" in claims
    shoot(driver, "06-negotiation-provider-trace")


def test_a_refused_negotiation_says_why(driver, space):
    driver.get(space.consumer_console + "catalog?address=" + space.provider_dsp)
    meters = until(lambda: driver.find_element(By.XPATH, "//article[.//code[text()='meters']]"), what="meters")
    meters.find_element(By.CSS_SELECTOR, "button[value=negotiate]").click()
    until(lambda: "TERMINATED" in driver.find_element(By.TAG_NAME, "h1").text, what="the refusal")
    assert "countryOfEstablishment isPartOf EU" in text(driver) and "established in JP" in text(driver)
    shoot(driver, "07-negotiation-refused")


def test_fetch_negotiates_transfers_and_pulls_the_sealed_data(driver, space):
    driver.get(space.consumer_console + "catalog?address=" + space.provider_dsp)
    weather = until(lambda: driver.find_element(By.XPATH, "//article[.//code[text()='weather']]"), what="weather")
    weather.find_element(By.NAME, "purpose").send_keys("forecasting")
    weather.find_element(By.CSS_SELECTOR, "button[value=fetch]").click()
    until(lambda: "seal verified" in text(driver), timeout=60, what="the fetched data")
    assert f"{len(WEATHER)} bytes" in text(driver)
    shoot(driver, "08-fetch")
    driver.find_element(By.PARTIAL_LINK_TEXT, "Download").click()
    assert downloaded(driver, "weather").read_bytes() == WEATHER
    driver.find_element(By.PARTIAL_LINK_TEXT, "transfer urn:uuid").click()
    until(lambda: "COMPLETED" in driver.find_element(By.TAG_NAME, "h1").text, what="the completed transfer")
    assert "STARTED → COMPLETED" in text(driver)
    shoot(driver, "09-transfer")


def test_an_agreements_evidence_exported_and_verified_offline(driver, space):
    driver.find_element(By.LINK_TEXT, "Evidence").click()
    driver.find_element(By.XPATH, "//button[text()='Write a checkpoint now']").click()
    assert "time-stamped" in until(lambda: driver.find_element(By.CLASS_NAME, "notice"), what="the checkpoint").text
    driver.find_element(By.LINK_TEXT, "Agreements").click()
    until(lambda: driver.find_element(By.XPATH, "//tr[td[text()='weather']]"), what="the agreements")
    shoot(driver, "10-agreements")
    driver.find_element(By.XPATH, "//tr[td[text()='weather']]//a").click()
    chain = until(lambda: driver.find_element(By.CSS_SELECTOR, "table.chain"), what="the chain")
    assert "agreement.signed" in chain.text and "agreement.verified" in chain.text, chain.text
    assert any(kind in chain.text for kind in SEAL_KINDS), chain.text
    assert "Time-stamp" in text(driver)
    shoot(driver, "11-agreement")
    driver.find_element(By.LINK_TEXT, "Export the evidence bundle").click()
    bundle = downloaded(driver, ".bundle.json")

    driver.find_element(By.LINK_TEXT, "Evidence").click()
    driver.find_element(By.CSS_SELECTOR, "form.verify button[type=submit]").click()
    until(lambda: driver.find_element(By.ID, "bundle-error"), what="the missing files' errors")
    assert "Choose at least one federation" in driver.find_element(By.ID, "tl-error").text
    driver.find_element(By.ID, "bundle").send_keys(str(bundle))
    driver.find_element(By.ID, "trust_lists").send_keys(str(space.trust_list))
    driver.find_element(By.CSS_SELECTOR, "form.verify button[type=submit]").click()
    verdict = until(lambda: driver.find_element(By.CSS_SELECTOR, ".verdict"), what="the verdict")
    assert "Verified" in verdict.text and "every check holds: the evidence is complete" in verdict.text
    shoot(driver, "12-evidence-verified")


def test_the_node_page_groups_recent_refusals_by_reason(driver, space, background):
    raw = RawPeer(space.consumer)
    background.run(raw.catalogue(space.provider, None))
    background.run(raw.catalogue(space.provider, "Bearer not-a-token"))
    background.run(raw.catalogue(space.provider, "Bearer not-a-token"))
    driver.get(space.provider_console)
    refusals = until(lambda: driver.find_element(By.XPATH, "//section[h2[@id='refusals-h']]"), what="refusals")
    rows = refusals.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == 2, refusals.text
    assert rows[0].find_element(By.TAG_NAME, "td").text == "2"  # the most frequent first
    assert space.consumer.participant_id in refusals.text
    shoot(driver, "13-node-refusals")


def test_assets_policies_and_offers_created_edited_and_deleted_with_errors_at_the_field(driver, space):
    driver.get(space.provider_console + "assets/new")
    form = until(lambda: driver.find_element(By.CSS_SELECTOR, "form.definition"), what="the asset form")
    form.find_element(By.ID, "f-id").send_keys("tides")
    form.find_element(By.ID, "f-title").send_keys("Tide gauges")
    source = form.find_element(By.ID, "f-source")
    source.clear()
    source.send_keys('{"type": "file", "path": "../etc/passwd"}')
    submit(driver, form)
    error = until(lambda: driver.find_element(By.ID, "e-source"), what="the source's error")
    assert "must not contain '..'" in error.text and "source.path" in error.text
    assert driver.find_element(By.ID, "f-source").get_attribute("aria-invalid") == "true"
    assert driver.find_element(By.ID, "f-title").get_attribute("value") == "Tide gauges"  # kept
    shoot(driver, "14-asset-form-error")
    source = driver.find_element(By.ID, "f-source")
    source.clear()
    source.send_keys('{"type": "file", "path": "weather.csv"}')
    submit(driver, driver.find_element(By.CSS_SELECTOR, "form.definition"))
    until(lambda: "Created asset tides." in text(driver), what="the new asset")

    driver.find_element(By.LINK_TEXT, "tides").click()
    title = until(lambda: driver.find_element(By.ID, "f-title"), what="the edit form")
    title.clear()
    title.send_keys("Tide gauges, hourly")
    submit(driver, driver.find_element(By.CSS_SELECTOR, "form.definition"))
    until(lambda: "Saved asset tides." in text(driver), what="the saved asset")
    assert "Tide gauges, hourly" in text(driver)
    shoot(driver, "15-assets")

    driver.get(space.provider_console + "policies/new")
    driver.find_element(By.ID, "f-id").send_keys("tides-policy")
    policy = driver.find_element(By.ID, "f-policy")
    policy.clear()
    bad = '{"permission": [{"action": "use", "constraint": [{"leftOperand": "shoeSize", "operator": "eq", '
    policy.send_keys(bad + '"rightOperand": "42"}]}]}')
    submit(driver, driver.find_element(By.CSS_SELECTOR, "form.definition"))
    error = until(lambda: driver.find_element(By.ID, "e-policy"), what="the policy's error")
    assert "shoeSize" in error.text and "permission[0].constraint[0].leftOperand" in error.text
    shoot(driver, "16-policy-form-error")
    policy = driver.find_element(By.ID, "f-policy")
    policy.clear()
    policy.send_keys('{"permission": [{"action": "use"}]}')
    submit(driver, driver.find_element(By.CSS_SELECTOR, "form.definition"))
    until(lambda: "Created policy tides-policy." in text(driver), what="the new policy")

    driver.get(space.provider_console + "offers/new")
    driver.find_element(By.ID, "f-id").send_keys("tides-offer")
    Select(driver.find_element(By.ID, "f-assetId")).select_by_visible_text("tides")
    Select(driver.find_element(By.ID, "f-contractPolicyId")).select_by_visible_text("tides-policy")
    submit(driver, driver.find_element(By.CSS_SELECTOR, "form.definition"))
    until(lambda: "Created offer tides-offer." in text(driver), what="the new offer")
    shoot(driver, "17-offers")

    driver.find_element(By.XPATH, "//tr[th//code[text()='tides-offer']]//button").click()
    driver.switch_to.alert.accept()  # the console asks before deleting
    until(lambda: "Deleted offer tides-offer." in text(driver), what="the deletion")
    assert "tides-offer" not in driver.find_element(By.TAG_NAME, "table").text


def test_the_api_document_rendered_by_the_vendored_swagger_ui(driver, space):
    driver.get_log("browser")  # what earlier pages logged (their refused forms) is not this page's
    driver.get(space.consumer_console + "api")
    title = until(lambda: driver.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title"), what="Swagger UI")
    assert "connector management API" in title.text and "OAS 3.1" in title.text  # its badges readable
    until(lambda: driver.find_elements(By.CSS_SELECTOR, ".opblock"), what="the operations")
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors  # nothing blocked (the page's content security policy), nothing missing
    time.sleep(0.3)  # the last fonts and icons
    shoot(driver, "18-api", check=False)  # Swagger UI's own markup


def test_signing_out_ends_the_session(driver, space):
    driver.get(space.consumer_console)
    driver.find_element(By.CSS_SELECTOR, "form.logout button").click()
    until(lambda: "You have signed out." in text(driver), what="the sign-in page")
    driver.get(space.consumer_console + "negotiations")
    until(lambda: driver.find_element(By.ID, "key"), what="the sign-in form")
    assert "/console/login" in driver.current_url
    shoot(driver, "19-signed-out")
