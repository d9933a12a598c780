"""The web UI at /ui in headless Chromium (Debian's chromium and chromium-driver, which
deploy/local/test.sh installs): a real execution waiting for an approval is listed, its
graph shows the nodes' states, the signal button sends the approval, and the page follows
it to the end; the cancel button cancels another. Screenshots go to LINKFLOW_UI_SCREENSHOTS
when it is set."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from test_runtime_support import Runtime, free_port, http_get, runtime_with_api, unique_id
from test_timers_support import wait_until

from linkflow.codec import encode_command

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WAIT = 60  # seconds a page has to show what the test waits for


def _browser_or_fail() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if missing:
        message = f"{missing} not installed: apt-get install chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def ui_runtime(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Runtime, str]]:
    folder = tmp_path_factory.mktemp("ui")
    with runtime_with_api(kafka_bootstrap, database_url, folder, "ui") as started:
        yield started


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _browser_or_fail()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _until(browser: Any, css: str, text: str | None = None) -> Any:
    """The first element matching `css` (containing `text`), once the page shows it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def found(driver: Any) -> Any:
        for element in driver.find_elements(By.CSS_SELECTOR, css):
            try:
                if text is None or text in element.text:
                    return element
            except Exception:  # re-rendered between find and read: look again
                continue
        return False

    try:
        return WebDriverWait(browser, WAIT, poll_frequency=0.2).until(found)
    except Exception:
        raise AssertionError(
            f"the page never showed {css!r}"
            + (f" with {text!r}" if text else "")
            + f"\n{browser.find_element(By.TAG_NAME, 'body').text[:3000]}"
        ) from None


def _shot(browser: Any, name: str) -> None:
    folder = os.environ.get("LINKFLOW_UI_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(folder) / f"{name}.png"))


def approval_flow(workflow_id: str) -> dict[str, Any]:
    return {
        "id": workflow_id,
        "version": 1,
        "nodes": [
            {"id": "start", "type": "trigger"},
            {"id": "prepare", "type": "echo", "config": {"value": "{{ trigger.order }}"}},
            {"id": "approve", "type": "approval", "config": {"signal": "approve"}},
            {"id": "ship", "type": "echo", "config": {"value": "shipped"}},
            {"id": "reject", "type": "noop"},
        ],
        "edges": [
            {"source": "start", "target": "prepare"},
            {"source": "prepare", "target": "approve"},
            {"source": "approve", "target": "ship", "handle": "true"},
            {"source": "approve", "target": "reject", "handle": "false"},
        ],
        "settings": {"output": "{{ nodes.ship }}"},
    }


def test_an_execution_is_followed_and_approved_from_the_ui(
    ui_runtime: tuple[Runtime, str], browser: Any
) -> None:
    rt, api = ui_runtime
    wf = unique_id("ui-order")
    rt.register(approval_flow(wf))
    execution_id = rt.client.start(wf, {"order": "A-1"})
    rt.wait_for_event(execution_id, "MarkerRecorded")

    browser.get(f"{api}/ui/#/?workflow={wf}")
    row = _until(browser, f'tr[data-execution="{execution_id}"]', "running")
    assert wf in row.text
    _shot(browser, "1-executions")
    row.find_element("css selector", "a").click()

    _until(browser, 'g[data-node="approve"][data-status="running"]')
    _until(browser, 'g[data-node="prepare"][data-status="completed"]')
    assert (
        browser.find_element("css selector", 'g[data-node="ship"]').get_attribute("data-status")
        == "none"
    )
    _until(browser, '#history tr[data-event="WorkflowExecutionStarted"]')
    assert '"order": "A-1"' in browser.find_element("id", "input").text
    _shot(browser, "2-waiting-for-approval")

    browser.find_element("id", "signal-name").send_keys("approve")
    browser.find_element("id", "signal-payload").send_keys('{"approved": true}')
    browser.find_element("id", "send-signal").click()
    _until(browser, "#message", "signal: accepted")

    _until(browser, "h1 .badge", "completed")
    _until(browser, 'g[data-node="ship"][data-status="completed"]')
    _until(browser, 'g[data-node="reject"][data-status="skipped"]')
    _until(browser, '#history tr[data-event="WorkflowExecutionCompleted"]')
    assert "shipped" in browser.find_element("id", "output").text
    assert browser.find_element("id", "send-signal").get_attribute("disabled") is not None
    _shot(browser, "3-completed")
    assert rt.wait(execution_id).status == "completed"

    browser.get(f"{api}/ui/#/?status=completed&workflow={wf}")
    _until(browser, f'tr[data-execution="{execution_id}"]', "completed")

    # Reset the completed execution to where `prepare` completed: the page moves to the new
    # run, which waits for the approval again.
    prepared = next(
        e
        for e in rt.history(execution_id)
        if e["event_type"] == "NodeCompleted" and e["attributes"]["node_id"] == "prepare"
    )
    browser.get(f"{api}/ui/#/e/{execution_id}")
    _until(browser, "h1 .badge", "completed")
    browser.find_element("id", "reset-event").send_keys(str(prepared["event_id"]))
    browser.find_element("id", "reason").send_keys("ship again")
    browser.find_element("id", "reset").click()
    _until(browser, 'g[data-node="approve"][data-status="running"]')
    new_id = browser.current_url.rsplit("/", 1)[1]
    assert new_id != execution_id
    _until(browser, '#history tr[data-event="MarkerRecorded"]', "execution_reset")
    _shot(browser, "3b-reset")
    rt.client.signal(new_id, "approve", {"approved": True})
    assert rt.wait(new_id).status == "completed"


def test_cancel_from_the_ui(ui_runtime: tuple[Runtime, str], browser: Any) -> None:
    rt, api = ui_runtime
    wf = unique_id("ui-cancel")
    rt.register(approval_flow(wf))
    execution_id = rt.client.start(wf, {"order": "B-2"})
    rt.wait_for_event(execution_id, "MarkerRecorded")

    browser.get(f"{api}/ui/#/e/{execution_id}")
    _until(browser, 'g[data-node="approve"][data-status="running"]')
    browser.find_element("id", "reason").send_keys("customer changed their mind")
    browser.find_element("id", "cancel").click()
    _until(browser, "h1 .badge", "canceled")
    _until(browser, 'g[data-node="approve"][data-status="canceled"]')
    assert rt.wait(execution_id).status == "canceled"

    browser.get(f"{api}/ui/#/e/no-such-execution")
    _until(browser, "#error", "no execution")


def test_dead_letters_are_listed_and_requeued_from_the_ui(
    ui_runtime: tuple[Runtime, str], browser: Any
) -> None:
    """A signal for an execution that never started is dead-lettered; the DLQ page shows
    it with its reason, and Requeue sends it back, where (still never started) it is
    dead-lettered once more."""
    rt, api = ui_runtime
    never = unique_id("never-started")
    rt.client._producer.produce(
        rt.prefix + "linkflow.commands",
        key=never.encode(),
        value=encode_command(
            {
                "input_type": "SignalWorkflow",
                "execution_id": never,
                "sent_at_ms": 0,
                "request_id": "ui-dlq",
                "signal_name": "go",
                "payload": None,
            }
        ),
    )
    rt.client._producer.flush(10)
    browser.get(f"{api}/ui/#/dlq?reason=unknown_execution")
    deadline = time.monotonic() + WAIT
    while never not in browser.find_element(By.ID, "dead-letters").text:  # not live: reload
        assert time.monotonic() < deadline, "the dead letter never showed"
        browser.refresh()
        _until(browser, "#dead-letters tbody tr")
    row = _until(browser, "#dead-letters tr[data-reason]", never)
    assert "unknown_execution" in row.text and "never started" in row.text
    _shot(browser, "4-dead-letters")
    row.find_element(By.CSS_SELECTOR, "button.requeue").click()
    _until(browser, "#message", "requeued 1 to " + rt.prefix + "linkflow.commands")
    deadline = time.monotonic() + WAIT
    while sum(never in r.text for r in browser.find_elements(By.CSS_SELECTOR, "tr[data-ref]")) < 2:
        assert time.monotonic() < deadline, "the requeued record was not dead-lettered again"
        browser.refresh()
        _until(browser, "#dead-letters tbody tr")


def test_the_buttons_follow_the_role_of_the_token(
    ui_runtime: tuple[Runtime, str], browser: Any, tmp_path: Path, database_url: str
) -> None:
    """A second API on the same runtime, with tokens: a viewer's page has every command
    button disabled and says why; an operator may signal and cancel, not terminate."""
    rt, _ = ui_runtime
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(
        "- {token: viewer-token-for-the-ui, role: viewer, name: dashboards}\n"
        "- {token: operator-token-for-the-ui, role: operator, name: support}\n"
    )
    port = free_port()
    rt.start_api(database_url, port, "api-auth", env={"LINKFLOW_API_TOKENS_FILE": str(tokens)})
    api = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_get(f"{api}/healthz")[0] == 200, WAIT, "the second API")
    wf = unique_id("ui-roles")
    rt.register(approval_flow(wf))
    execution_id = rt.client.start(wf, {"order": "C-3"})
    rt.wait_for_event(execution_id, "MarkerRecorded")

    def use(token: str, who: str) -> None:
        browser.get(f"{api}/ui/#/e/{execution_id}")
        browser.find_element(By.ID, "token").send_keys(token)
        browser.find_element(By.ID, "save-token").click()
        # The page says who it is in the same step as it drops the old view: a graph found
        # after that is the one drawn for this token.
        _until(browser, "#who", who)
        _until(browser, 'g[data-node="approve"][data-status="running"]')

    use("viewer-token-for-the-ui", "dashboards (viewer)")
    for button in ("send-signal", "cancel", "terminate", "reset"):
        element = browser.find_element(By.ID, button)
        assert element.get_attribute("disabled") is not None, button
        assert "may not" in (element.get_attribute("title") or ""), button
    _shot(browser, "5-viewer")

    use("operator-token-for-the-ui", "support (operator)")
    assert browser.find_element(By.ID, "send-signal").get_attribute("disabled") is None
    assert browser.find_element(By.ID, "cancel").get_attribute("disabled") is None
    assert browser.find_element(By.ID, "terminate").get_attribute("disabled") is not None
    assert browser.find_element(By.ID, "reset").get_attribute("disabled") is not None
    browser.find_element(By.ID, "signal-name").send_keys("approve")
    browser.find_element(By.ID, "signal-payload").send_keys('{"approved": true}')
    browser.find_element(By.ID, "send-signal").click()
    _until(browser, "h1 .badge", "completed")
    browser.execute_script("localStorage.clear()")
