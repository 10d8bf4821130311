"""The Image Creator in headless Chromium (Debian's chromium + chromium-driver) through Selenium."""
import shutil

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import TINY_SD


@pytest.fixture
def browser():
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=390,900"):
        options.add_argument(arg)  # 390 px: a phone-width screen
    chromium = shutil.which("chromium")
    if chromium:
        options.binary_location = chromium
    d = webdriver.Chrome(service=ChromeService(driver_path), options=options)
    yield d
    d.quit()


def test_generate_find_in_history_and_reuse(server, browser):
    wait = WebDriverWait(browser, 120)
    browser.get(server.url + "/")
    wait.until(lambda d: Select(d.find_element(By.ID, "model")).options)
    # The broken model is listed, greyed out, with its reason.
    broken = [o for o in Select(browser.find_element(By.ID, "model")).options if o.get_attribute("value") == "broken-model"]
    assert broken and not broken[0].is_enabled() and "unavailable" in broken[0].text

    prompt = "a <img src=x onerror=alert(1)> red cube on snow"
    browser.find_element(By.ID, "prompt").send_keys(prompt)
    Select(browser.find_element(By.ID, "style")).select_by_value("watercolor")
    Select(browser.find_element(By.ID, "count")).select_by_visible_text("2")
    browser.find_element(By.ID, "advanced").click()
    browser.find_element(By.ID, "seed").send_keys("1234")
    browser.find_element(By.ID, "steps").send_keys("6")
    # Keyboard: Ctrl+Enter in the prompt generates.
    browser.find_element(By.ID, "prompt").send_keys(Keys.CONTROL, Keys.ENTER)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results .card")) == 2)
    assert "Done" in browser.find_element(By.ID, "status").text

    # History: search finds the pictures; the HTML in the prompt is shown as text, not markup.
    browser.get(server.url + "/#/history")
    box = wait.until(EC.visibility_of_element_located((By.ID, "history-search")))
    box.send_keys("snow", Keys.ENTER)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#history-grid .card")) >= 2)
    card = browser.find_elements(By.CSS_SELECTOR, "#history-grid .card")[0]
    assert prompt in card.text
    assert not browser.find_elements(By.CSS_SELECTOR, "#history-grid img[src='x']")

    # The picture page lists every setting; "reuse" brings them back into the form.
    card.click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#image-settings dd[data-setting='seed']"))
    assert browser.find_element(By.CSS_SELECTOR, "#image-settings dd[data-setting='seed']").text == "1234"
    assert browser.find_element(By.ID, "download").get_attribute("href").endswith(".png")
    browser.find_element(By.ID, "reuse").click()
    wait.until(EC.visibility_of_element_located((By.ID, "prompt")))
    assert browser.find_element(By.ID, "prompt").get_attribute("value") == prompt
    assert browser.find_element(By.ID, "seed").get_attribute("value") == "1234"
    assert browser.find_element(By.ID, "steps").get_attribute("value") == "6"
    assert Select(browser.find_element(By.ID, "style")).first_selected_option.get_attribute("value") == "watercolor"
    assert Select(browser.find_element(By.ID, "count")).first_selected_option.text == "2"
    assert Select(browser.find_element(By.ID, "model")).first_selected_option.get_attribute("value") == "lumen-tiny"
    # No script ran from the prompt.
    assert browser.execute_script("return document.querySelectorAll('img[src=\"x\"]').length") == 0


def test_verify_page_reports_trusted_credentials(server, browser, tmp_path):
    status, _, body = server.request("POST", "/v1/images/generations", {"prompt": "a blue torus", "steps": 2})
    assert status == 200
    picture = tmp_path / "picture.png"
    import base64
    picture.write_bytes(base64.b64decode(body["data"][0]["b64_json"]))
    wait = WebDriverWait(browser, 60)
    browser.get(server.url + "/#/verify")
    wait.until(EC.visibility_of_element_located((By.ID, "verify-file"))).send_keys(str(picture))
    browser.find_element(By.CSS_SELECTOR, "#verify-form button").click()
    wait.until(lambda d: "trusted" in d.find_element(By.ID, "verify-result").text)
    text = browser.find_element(By.ID, "verify-result").text
    assert "valid and trusted" in text and "yes (trainedAlgorithmicMedia)" in text


def test_arena_battle_vote_reveal_and_leaderboard(make_server, browser, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "tiny-sd1").symlink_to(TINY_SD)
    s = make_server(models=models).start()
    wait = WebDriverWait(browser, 120)
    browser.get(s.url + "/#/leaderboard")
    wait.until(lambda d: d.find_element(By.ID, "board-summary").get_attribute("data-votes") == "0")

    browser.get(s.url + "/#/arena")
    wait.until(EC.element_to_be_clickable((By.ID, "arena-start"))).click()
    wait.until(EC.visibility_of_element_located((By.ID, "arena-battle")))
    arena = browser.find_element(By.ID, "view-arena")
    before = arena.get_attribute("innerHTML")
    assert "lumen-tiny" not in before and "tiny-sd1" not in before  # no name, no file name, before the vote
    for side in ("arena-left", "arena-right"):
        assert browser.execute_script(f"return document.getElementById('{side}').naturalWidth") > 0

    browser.find_element(By.ID, "vote-left").click()
    wait.until(lambda d: d.find_element(By.ID, "arena-left-model").text)
    revealed = {browser.find_element(By.ID, "arena-left-model").text, browser.find_element(By.ID, "arena-right-model").text}
    assert revealed == {"lumen-tiny", "tiny-sd1"}

    browser.get(s.url + "/#/leaderboard")
    wait.until(lambda d: d.find_element(By.ID, "board-summary").get_attribute("data-votes") == "1")
    rows = browser.find_elements(By.CSS_SELECTOR, "#board tbody tr")
    assert {r.find_elements(By.TAG_NAME, "td")[1].text.rstrip(" *") for r in rows} == {"lumen-tiny", "tiny-sd1"}
