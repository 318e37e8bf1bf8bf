"""The page at `/` in Debian's Chromium: an answer survives dropped connections and a reload.

No `__init__.py` here on purpose: a package `tests/browser` would shadow the fixture
module `tests/browser.py` that every browser test imports.
"""

import pytest
from playwright.sync_api import expect

from tests.browser import SCREENSHOT_DIR, browser  # noqa: F401
from tests.sse import events_of, read_stream

TEXT = " ".join(f"token{n}" for n in range(1, 101))
# 100 tokens 60 ms apart: 6 s of answer, time for two drops and a reload mid-way.
TOKEN_DELAY_MS = 60
ANSWER_LENGTH_JS = ("() => document.querySelector('#messages .msg-assistant .content')"
                    "?.textContent.length ?? 0")
# Generous: the machine running the suite may be busy with other work.
STEP_TIMEOUT_MS = 30_000
FINISH_TIMEOUT_MS = 90_000


@pytest.fixture
def page(browser, server):  # noqa: F811 (the fixture imported above)
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    yield page
    context.close()


def answer_length(page) -> int:
    return page.evaluate(ANSWER_LENGTH_JS)


def wait_for_growth(page, beyond: int) -> None:
    page.wait_for_function(f"n => ({ANSWER_LENGTH_JS})() > n", arg=beyond,
                           timeout=STEP_TIMEOUT_MS)


def use_key(page, server, api_key: str) -> None:
    page.goto(server.url + "/")
    page.fill("#api-key", api_key)
    page.click("#save-key")


def expect_finished_with_exact_text(page) -> None:
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "done",
                                                          timeout=FINISH_TIMEOUT_MS)
    assert page.locator("#messages .msg-assistant .content").text_content() == TEXT
    expect(page.locator("#messages .msg-assistant")).to_have_attribute("data-status",
                                                                       "completed")
    expect(page.locator("#integrity")).to_be_hidden()
    expect(page.locator("#error")).to_be_hidden()


def test_answer_survives_two_dropped_connections_and_a_reload_with_exact_text(
        page, server, api_key, client):
    use_key(page, server, api_key)
    page.click("#new-thread")
    expect(page.locator("#thread-status")).to_contain_text("inactive")
    page.fill("#prompt", TEXT)
    page.fill("#token-delay", str(TOKEN_DELAY_MS))
    page.click("#send")
    wait_for_growth(page, 0)
    state = page.locator("#conn-state")
    for drops in (1, 2):
        expect(state).to_have_attribute("data-state", "open")
        page.click("#drop")
        expect(page.locator("#reconnects")).to_have_text(str(drops))
        expect(state).to_have_attribute("data-state", "open")  # reconnected by itself
        wait_for_growth(page, answer_length(page))  # and streaming again
    seen = answer_length(page)
    assert seen < len(TEXT), "the answer ended before the reload; the test proves nothing"
    thread_id = page.evaluate("() => JSON.parse(sessionStorage.getItem('freddy.threadId'))")

    page.reload()
    expect(page.locator("#log")).to_contain_text("resuming resp_")
    expect_finished_with_exact_text(page)
    page.screenshot(path=SCREENSHOT_DIR / "page-after-drops-and-reload.png", full_page=True)
    saved = client.get(f"/v1/threads/{thread_id}/messages").json()["data"]
    assert [m["content"] for m in saved] == [TEXT, TEXT]


def test_a_fresh_tab_picking_a_streaming_thread_replays_and_follows_it(
        page, server, api_key, client):
    frames = read_stream(client, "POST", "/v1/model/response", stop_after=1, json={
        "model": "echo", "stream": True, "model_options": {"token_delay_ms": TOKEN_DELAY_MS},
        "inputs": [{"role": "user", "content": TEXT}]})
    thread_id = events_of(frames)[0]["thread_id"]
    use_key(page, server, api_key)
    page.locator(f"#thread-select option[value='{thread_id}']").wait_for(state="attached")
    page.select_option("#thread-select", thread_id)
    expect(page.locator("#log")).to_contain_text("replaying from the first event")
    expect_finished_with_exact_text(page)
    assert int(page.locator("#replayed").text_content()) >= 1
    page.screenshot(path=SCREENSHOT_DIR / "page-fresh-tab-follows-run.png", full_page=True)


def test_a_reload_after_the_run_ended_finishes_the_answer_from_the_saved_cursor(
        page, server, api_key, client):
    frames = read_stream(client, "POST", "/v1/model/response", json={
        "model": "echo", "stream": True, "model_options": {"token_delay_ms": 1},
        "inputs": [{"role": "user", "content": TEXT}]})
    events = events_of(frames)
    thread_id, response_id = events[0]["thread_id"], events[0]["response_id"]
    # What the tab had saved when the reload began: the first 10 tokens (events 2 to 11).
    saved = {"threadId": thread_id, "responseId": response_id, "lastEventId": 11,
             "text": "".join(e["delta"] for e in events[1:11])}
    use_key(page, server, api_key)
    page.evaluate("""([thread, run]) => {
        sessionStorage.setItem('freddy.threadId', JSON.stringify(thread));
        sessionStorage.setItem('freddy.run', JSON.stringify(run));
    }""", [thread_id, saved])
    page.reload()
    expect(page.locator("#log")).to_contain_text(f"resuming {response_id} from event 11")
    expect_finished_with_exact_text(page)
    assert page.locator("#replayed").text_content() == str(len(events) - 11)
