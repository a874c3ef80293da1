"""The web console in a real headless Chromium, on a phone and on a desktop screen: a staff member logs in,
sees a citizen's new case arrive in the queue without a reload (and an assigned one leave), opens it,
assigns it with the form (the member gets the WeCom message); a viewer finds no form and is refused an
action; a forged CSRF token changes nothing; five wrong passwords lock the login.

Debian's chromium and chromium-driver by path, as tests/test_case_page_browser.py (skipped without them,
except in CI). Screenshots of every page go to tests/screenshots/console-<database>-<screen>/<test>/
(git-ignored); after each page the browser's console log must hold no error or warning (a CSP violation
would be one).
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from handlers.admin import accounts
from models.entities import Case, CaseState
from models.timeutil import ManualClock
from tests.console_client import PASSWORD, tiny_png
from tests.harness import Stack
from tests.test_case_page_browser import CHROMEDRIVER, CHROMIUM, SCREENSHOTS, fontconfig, require_browser
from tests.test_triage_and_members import CODE, say

T = TypeVar("T")
SCREENS = {"phone": (375, 812), "desktop": (1366, 900)}
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--lang=zh-CN",
)


class Browser:
    """Headless Chromium at one screen size; Selenium's blocking calls run in a thread so that the service
    under test, on this event loop, can answer."""

    def __init__(self, tmp_path: Path, shots: Path, screen: str) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service

        width, height = SCREENS[screen]
        options = Options()
        options.binary_location = str(CHROMIUM)
        for argument in (*CHROMIUM_ARGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
            options.add_argument(argument)
        if screen == "phone":
            metrics = {"width": width, "height": height, "pixelRatio": 2}
            options.add_experimental_option("mobileEmulation", {"deviceMetrics": metrics})
        else:
            options.add_argument(f"--window-size={width},{height}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(
            str(CHROMEDRIVER),
            env={**os.environ, "FONTCONFIG_FILE": str(fontconfig(tmp_path))},
            log_output=str(tmp_path / "chromedriver.log"),
        )
        self.driver = webdriver.Chrome(service=service, options=options)
        self.shots = shots
        self.screen = screen

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    async def open(self, url: str) -> None:
        await self.run(self.driver.get, url)

    async def find(self, selector: str) -> Any:
        from selenium.webdriver.common.by import By

        return await self.run(self.driver.find_element, By.CSS_SELECTOR, selector)

    async def elements(self, selector: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(await self.run(self.driver.find_elements, By.CSS_SELECTOR, selector))

    async def text(self, selector: str) -> str:
        return str((await self.find(selector)).text)

    async def type(self, selector: str, text: str) -> None:
        field = await self.find(selector)
        await self.run(field.clear)
        await self.run(field.send_keys, text)

    async def click(self, selector: str) -> None:
        element = await self.find(selector)
        await self.run(self.driver.execute_script, "arguments[0].scrollIntoView({block: 'center'})", element)
        await self.run(element.click)

    async def script(self, source: str, *args: Any) -> Any:
        return await self.run(self.driver.execute_script, source, *args)

    async def wait_for(self, selector: str, gone: bool = False) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        located = (By.CSS_SELECTOR, selector)
        condition = (
            expected_conditions.invisibility_of_element_located(located)
            if gone
            else expected_conditions.presence_of_element_located(located)
        )
        await self.run(WebDriverWait(self.driver, 10).until, condition)

    async def screenshot(self, name: str) -> Path:
        def capture() -> bytes:
            size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
            clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
            shot = self.driver.execute_cdp_cmd(
                "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
            )
            return base64.b64decode(shot["data"])

        path = self.shots / f"{name}.png"
        path.write_bytes(await self.run(capture))
        return path

    async def console(self, *expected_statuses: int) -> list[dict[str, Any]]:
        """What the pages logged since the last call, less Chromium's note of a status we answered on purpose
        (a 401 of a wrong password, the 403 of a refused action)."""
        entries = list(await self.run(self.driver.get_log, "browser"))
        notes = [f"the server responded with a status of {status}" for status in expected_statuses]
        return [e for e in entries if not any(note in e["message"] for note in notes)]

    async def fits_the_screen(self) -> bool:
        """Nothing wider than the screen (no sideways scrolling on a phone)."""
        return bool(await self.script("return document.documentElement.scrollWidth <= window.innerWidth + 1"))

    def quit(self) -> None:
        self.driver.quit()


@pytest.fixture(params=list(SCREENS))
async def screen(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Browser]:
    require_browser()
    shots = SCREENSHOTS / f"console-{request.node.callspec.id}" / request.node.originalname.removeprefix("test_")
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    device = await asyncio.to_thread(Browser, tmp_path, shots, request.param)
    try:
        yield device
    finally:
        await asyncio.to_thread(device.quit)


@pytest.fixture
async def desk(database_url: str, redis_url: str, redis_client: object, tmp_path: Path) -> AsyncIterator[Stack]:
    from tests.conftest import reset_postgres

    if database_url.startswith("postgres"):
        await reset_postgres(database_url)
    stack = Stack(database_url, redis_url, tmp_path, clock=ManualClock())
    try:
        await stack.start()
        await accounts.set_password("s-li", PASSWORD)
        await accounts.set_password("s-zhou", PASSWORD)
        yield stack
    finally:
        await stack.stop()


async def citizen_writes(stack: Stack, openid: str, text: str, point: str = "hz-hospital-1") -> str:
    """A citizen scans a contact point's code and writes; the acknowledgement's tracking code."""
    citizen = stack.citizen()
    await citizen.event(openid, "SCAN", f"cp:{point}")
    result = await citizen.text(openid, text)
    match = CODE.search(result.reply["Content"])
    assert match, result.reply
    await stack.run_jobs()  # case.created: queued for triage, which the console hears
    return match.group(0)


async def log_in(browser: Browser, stack: Stack, key: str, password: str = PASSWORD) -> None:
    await browser.open(stack.url("/console/login"))
    await browser.wait_for("#login")
    await browser.type("input[name=username]", key)
    await browser.type("input[name=password]", password)
    await browser.click("#login button[type=submit]")


async def test_staff_work_the_live_queue_and_a_case_in_the_browser(desk: Stack, screen: Browser) -> None:
    browser = screen
    waiting = await citizen_writes(desk, "o-b0", "学校门口接送车辆太多", point="hz-school-1")

    await browser.open(desk.url("/console"))  # not logged in: the login page
    await browser.wait_for("#login")
    await browser.screenshot("1-login")
    assert await browser.console() == []

    await log_in(browser, desk, "s-li")
    await browser.wait_for("#live.on")  # the event stream is open
    assert "李四" in await browser.text("#who")
    assert await browser.elements(f'tr[data-code="{waiting}"]')
    assert await browser.fits_the_screen()
    await browser.screenshot("2-queue")
    assert await browser.console() == []

    # A citizen writes: the case appears without a reload (the marker set on this page survives).
    await browser.script("window.stillThisPage = true")
    code = await citizen_writes(desk, "o-b1", "医院门口停车太难，电话13812345678")
    await browser.wait_for(f'tr[data-code="{code}"]')
    assert await browser.script("return window.stillThisPage === true")
    row = await browser.text(f'tr[data-code="{code}"]')
    assert "医院门口停车太难" in row
    assert "138****5678" in row
    assert "湖州市中心医院" in row
    assert "共 2 件" in await browser.text("#queue-summary")
    await browser.screenshot("3-queue-new-case")

    # Assigned in the chat: it leaves the queue, still without a reload.
    assert "交办给委员王五" in await say(desk, "lisi", f"派 {waiting} 王五")
    await browser.wait_for(f'tr[data-code="{waiting}"]', gone=True)
    assert await browser.script("return window.stillThisPage === true")
    assert "共 1 件" in await browser.text("#queue-summary")
    await browser.screenshot("4-queue-after-chat-assign")
    assert await browser.console() == []

    # The citizen adds a photo and where it is; then the case is opened and assigned with the form (the
    # suggested member is chosen already).
    desk.platform.add_media("media-photo", tiny_png(), "image/png")
    await desk.citizen().image("o-b1", "media-photo")
    await desk.citizen().location("o-b1", 30.87, 120.09, 15, "湖州市中心医院东门")
    await desk.run_jobs()  # the photo is fetched from WeChat
    await browser.click(f'tr[data-code="{code}"] a')
    await browser.wait_for("#case-head")
    assert code in await browser.text("h1")
    assert "医院门口停车太难" in await browser.text("#messages")
    assert "湖州市中心医院东门" in await browser.text("#messages")
    await browser.wait_for("#messages img.photo")
    loaded = "var i = document.querySelector('#messages img.photo'); return i.complete && i.naturalWidth;"
    assert await browser.script(loaded) == 40  # shown, under the page's Content-Security-Policy
    assert "交办期限" in await browser.text("#deadlines")
    assert "还剩" in await browser.text("#deadlines")
    selected = await browser.script("return document.getElementById('assign-member').value")
    assert selected == "m-zhang"
    assert await browser.fits_the_screen()
    await browser.screenshot("5-case")
    assert await browser.console() == []

    await browser.click("#form-assign button")
    await browser.wait_for("#flash")
    assert "交办给委员张三" in await browser.text("#flash")
    assert "（控制台）" in await browser.text("#timeline")
    await desk.run_jobs()
    case = await Case.get(code=code)
    assert case.state == CaseState.ASSIGNED
    to_member = [m.text for m in desk.platform.sent_to("zhangsan")]
    assert any(code in text and "医院门口停车太难" in text for text in to_member)
    await browser.screenshot("6-case-assigned")
    assert await browser.console() == []

    # A forged CSRF token: refused, nothing changed.
    await browser.script("document.querySelector('#form-reply input[name=csrf]').value = 'forged'")
    await browser.type("#form-reply textarea", "已协调")
    await browser.click("#form-reply button")
    await browser.wait_for("#notice")
    assert "请求已失效" in await browser.text("#notice h1")
    await case.refresh_from_db()
    assert case.state == CaseState.ASSIGNED
    await browser.screenshot("7-forged-csrf")
    assert await browser.console(403) == []

    await browser.open(desk.url("/console"))
    await browser.click("form.who button")
    await browser.wait_for("#notice")
    assert await browser.console() == []


async def test_a_viewer_reads_and_a_fifth_wrong_password_locks(desk: Stack, screen: Browser) -> None:
    browser = screen
    code = await citizen_writes(desk, "o-v1", "医院门口停车太难")
    await log_in(browser, desk, "s-zhou")
    await browser.wait_for("#queue")
    await browser.open(desk.url(f"/console/cases/{code}"))
    await browser.wait_for("#case-head")
    assert "周八" in await browser.text("#who")
    assert await browser.elements("#actions") == []
    assert await browser.elements("main form") == []
    await browser.screenshot("1-viewer-case")
    assert await browser.console() == []
    status = await browser.script(
        "var csrf = document.querySelector('form.who input[name=csrf]').value;"
        "var request = new XMLHttpRequest();"
        "request.open('POST', arguments[0], false);"
        "request.setRequestHeader('Content-Type', 'application/x-www-form-urlencoded');"
        "request.send('csrf=' + encodeURIComponent(csrf) + '&member=m-zhang');"
        "return request.status;",
        f"/console/cases/{code}/assign",
    )
    assert status == 403
    assert (await Case.get(code=code)).state == CaseState.RECEIVED
    assert await browser.console(403) == []
    # The figures' pages: each draws (a chart, a table) with nothing in the console's log.
    for index, (path, drawn) in enumerate(
        (("map", "#heat"), ("deadlines", "svg.chart"), ("members", "#table-members"), ("points", "#table-totals")),
        start=2,
    ):
        await browser.open(desk.url(f"/console/{path}"))
        await browser.wait_for(drawn)
        await browser.screenshot(f"{index}-{path}")
        assert await browser.console() == []
        assert await browser.fits_the_screen()  # wide tables scroll inside their card, not the page
    await browser.open(desk.url("/console/points/hz-hospital-1"))
    await browser.wait_for("#table-codes")
    await browser.screenshot("6-point")
    await browser.open(desk.url("/console/members/m-zhang"))
    await browser.wait_for("svg.chart")
    await browser.screenshot("7-member")
    assert await browser.console() == []
    await browser.click("form.who button")
    await browser.wait_for("#notice")

    for attempt in range(1, 6):
        await log_in(browser, desk, "s-li", "not the password")
        await browser.wait_for("#login-error")
        if attempt == 4:
            assert "工作人员编号或密码不对" in await browser.text("#login-error")
            await browser.screenshot("8-wrong-password")
    assert "已锁定 15 分钟" in await browser.text("#login-error")
    await browser.screenshot("9-locked")
    await log_in(browser, desk, "s-li")  # the right one, too soon
    await browser.wait_for("#login-error")
    assert "已锁定 15 分钟" in await browser.text("#login-error")
    assert await browser.console(401, 429) == []
