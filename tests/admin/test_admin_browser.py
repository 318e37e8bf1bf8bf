"""The admin in a real browser (Debian's Chromium via Playwright) against real daphne."""

import pytest
from django.contrib.admin.utils import quote

from tests.browser import SCREENSHOT_DIR, browser  # noqa: F401
from tests.readers import BackgroundStream
from tests.sse import events_of, read_stream

ADMIN_USER = "admin"
ADMIN_PASSWORD = "correct-horse-battery-staple"
CREATE_SUPERUSER = (
    "from django.contrib.auth.models import User; "
    f"User.objects.create_superuser({ADMIN_USER!r}, 'admin@example.com', {ADMIN_PASSWORD!r})")
FINISHED_TEXT = "Freddy keeps every event of a run so a client can reconnect"
# 100 ms per token and a repeated text: the run is still going when the admin cancels it.
RUNNING_OPTIONS = {"token_delay_ms": 100, "repeat": 200}
# Playwright waits (milliseconds): generous for a loaded 2-core machine.
PAGE_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def admin_server(server_factory):
    server = server_factory({"FREDDY_SSE_HEARTBEAT_SECONDS": "1"})
    server.manage("shell", "-c", CREATE_SUPERUSER)
    return server


@pytest.fixture
def page(browser, admin_server):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  base_url=admin_server.url)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


def _log_in(page) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", ADMIN_USER)
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    assert "Site administration" in page.content()


def _echo(text: str, *, stream: bool, **options) -> dict:
    return {"model": "echo", "stream": stream, "model_options": options,
            "inputs": [{"role": "user", "content": text}]}


def test_admin_shows_a_finished_runs_timeline_and_cancels_a_running_run(admin_server, page):
    with admin_server.client(admin_server.create_key("org_admin_ui")) as client:
        done = client.post("/v1/model/response", json=_echo(FINISHED_TEXT, stream=False,
                                                             token_delay_ms=0)).json()
        stored = events_of(read_stream(client, "GET",
                                       f"/v1/model/response/{done['thread_id']}/stream"))
        running = BackgroundStream(client, "POST", "/v1/model/response",
                                   json=_echo(FINISHED_TEXT, stream=True, **RUNNING_OPTIONS))
        running_id = running.start().first_event["response_id"]

        _log_in(page)
        page.goto(f"/admin/streaming/response/{quote(done['response_id'])}/change/")
        timeline_count = page.inner_text("#timeline-count")
        rows = page.locator("tr.timeline-event").all_inner_texts()
        page.screenshot(path=SCREENSHOT_DIR / "admin-run-timeline.png", full_page=True)

        page.goto(f"/admin/streaming/response/?q={running_id}")
        page.check(f"input[name=_selected_action][value={running_id}]")
        page.select_option("select[name=action]", "cancel_runs")
        page.click("button[name=index]")
        message = page.inner_text("ul.messagelist")
        page.screenshot(path=SCREENSHOT_DIR / "admin-run-cancelled.png", full_page=True)
        page.goto(f"/admin/streaming/response/{quote(running_id)}/change/")
        page.screenshot(path=SCREENSHOT_DIR / "admin-cancelled-run-timeline.png",
                        full_page=True)
        live_events = running.join()

    assert int(timeline_count) == len(stored) == len(rows)
    assert [row.split()[0] for row in rows] == [str(e["sequence_number"]) for e in stored]
    assert rows[0].split()[1] == "response.created"
    assert rows[-1].split()[1] == "response.completed"
    assert "Cancelled 1 of 1 selected runs" in message
    assert live_events[-1]["event"] == "response.cancelled"
    assert live_events[-1]["response_id"] == running_id
    assert running.frames[-1].is_done and running.frames[-2].json == live_events[-1]


def test_docs_page_renders_every_endpoint_in_the_browser_without_a_cdn(admin_server, page):
    outside = []
    page.on("request", lambda r: None if r.url.startswith(admin_server.url)
            else outside.append(r.url))

    page.goto("/docs/")
    page.wait_for_selector(".opblock-summary-path")
    paths = set(page.locator(".opblock-summary-path").all_inner_texts())
    page.screenshot(path=SCREENSHOT_DIR / "docs.png", full_page=True)

    assert {"/v1/model/response", "/v1/model/response/{thread_id}/stream"} <= {
        p.replace("\u200b", "") for p in paths}
    assert outside == []
