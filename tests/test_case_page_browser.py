"""The case page in a real headless Chromium on a phone-sized screen: the citizen reads the reply, writes a
comment, taps 不满意, reads the chat's own thank-you, and the case is back with its member.

Debian's chromium and chromium-driver, always by path: nothing downloads a browser or a driver
(Selenium Manager runs only when no driver path is given). Without them the test is skipped, except
in CI (CI=true), where it fails: .ci/run installs them. Screenshots of every page state go to
tests/screenshots/<database>/ (git-ignored).
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

from handlers.texts.citizen import visit_reopened
from models.entities import CaseState
from models.sla import format_deadline_zh
from tests import case_pages
from tests.case_pages import link, replied_case, start_visit
from tests.harness import Stack

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
PHONE = {"width": 375, "height": 812}
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    f"--window-size={PHONE['width']},{PHONE['height']}",
)
# What WeChat's browser on an iPhone calls itself.
WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.49(0x18003129) NetType/WIFI Language/zh_CN"
)

pages = case_pages.pages
T = TypeVar("T")


def require_browser() -> None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if not missing:
        return
    why = f"{', '.join(missing)} missing (Debian packages chromium and chromium-driver)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {why}: .ci/run installs them")
    pytest.skip(f"the headless browser test needs {why}")


def fontconfig(tmp_path: Path) -> Path:
    """The CJK font of the noto-cjk-sans-otc wheel (a dependency): screenshots show Chinese even on a
    machine without system CJK fonts, as a phone would."""
    import noto_cjk_sans_otc

    fonts = Path(noto_cjk_sans_otc.__file__).parent
    conf = tmp_path / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
        '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n'
        f"  <dir>{fonts}</dir>\n  <cachedir>{tmp_path / 'fontcache'}</cachedir>\n</fontconfig>\n",
        encoding="utf-8",
    )
    return conf


class Phone:
    """A headless Chromium emulating a 375×812 phone; Selenium's blocking calls run in a thread so the
    service under test (on this event loop) can answer."""

    def __init__(self, tmp_path: Path, shots: Path) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service

        options = Options()
        options.binary_location = str(CHROMIUM)
        for argument in (*CHROMIUM_ARGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
            options.add_argument(argument)
        phone = {"deviceMetrics": {**PHONE, "pixelRatio": 2}, "userAgent": WECHAT_UA}
        options.add_experimental_option("mobileEmulation", phone)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(
            str(CHROMEDRIVER),
            env={**os.environ, "FONTCONFIG_FILE": str(fontconfig(tmp_path))},
            log_output=str(tmp_path / "chromedriver.log"),
        )
        self.driver = webdriver.Chrome(service=service, options=options)
        self.shots = shots

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    async def open(self, url: str) -> None:
        await self.run(self.driver.get, url)

    async def text(self, selector: str) -> str:
        from selenium.webdriver.common.by import By

        return str((await self.run(self.driver.find_element, By.CSS_SELECTOR, selector)).text)

    async def elements(self, selector: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(await self.run(self.driver.find_elements, By.CSS_SELECTOR, selector))

    async def wait_for(self, selector: str) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        wait = WebDriverWait(self.driver, 10)
        await self.run(wait.until, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, selector)))

    async def screenshot(self, name: str) -> Path:
        """The whole page, not only what fits on the screen."""

        def capture() -> bytes:
            metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
            size = metrics["cssContentSize"]
            shot = self.driver.execute_cdp_cmd(
                "Page.captureScreenshot",
                {
                    "format": "png",
                    "captureBeyondViewport": True,
                    "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
                },
            )
            return base64.b64decode(shot["data"])

        path = self.shots / f"{name}.png"
        path.write_bytes(await self.run(capture))
        return path

    async def console(self) -> list[dict[str, Any]]:
        """What the page logged since the last call (errors, warnings, CSP violations)."""
        return list(await self.run(self.driver.get_log, "browser"))

    def quit(self) -> None:
        self.driver.quit()


@pytest.fixture
async def phone(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Phone]:
    require_browser()
    shots = SCREENSHOTS / request.node.callspec.id
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    device = await asyncio.to_thread(Phone, tmp_path, shots)
    try:
        yield device
    finally:
        await asyncio.to_thread(device.quit)


def document_status_only(entries: list[dict[str, Any]], status: int) -> list[dict[str, Any]]:
    """Console entries other than Chromium's note of the page's own HTTP status (a notice page answers
    404 or 410 on purpose)."""
    return [e for e in entries if f"the server responded with a status of {status}" not in e["message"]]


async def test_a_citizen_rates_the_reply_unsatisfied_on_the_page(pages: Stack, phone: Phone) -> None:
    case = await replied_case(pages, "o-b1")
    await start_visit(pages)  # the survey went out in chat too: the page answers the same question
    await case.refresh_from_db()
    assert case.state == CaseState.RETURN_VISIT
    url = await link(pages, case)

    await phone.open(url)
    await phone.wait_for("#visit")
    assert await phone.run(phone.driver.execute_script, "return [window.innerWidth, window.innerHeight]") == [375, 812]
    assert case.code in await phone.text("h1")
    assert await phone.text(".state") == "回访中"
    assert case_pages.REPLY in await phone.text("#replies .reply .text")
    buttons = await phone.elements(".choices button")
    assert [await phone.run(lambda b=b: b.text) for b in buttons] == ["满意", "基本满意", "不满意"]
    for button in buttons:
        rect = await phone.run(lambda b=button: b.rect)
        assert rect["x"] >= 0
        assert rect["x"] + rect["width"] <= PHONE["width"]  # all three fit on the phone's screen
    assert "医院门口停车太难" in await phone.text("#messages")
    assert "已答复" in await phone.text("#timeline")
    await phone.screenshot("1-case-page")
    assert await phone.console() == []

    (comment_box,) = await phone.elements("#comment")
    await phone.run(comment_box.send_keys, "车位还是不够，电话13812345678")
    await phone.screenshot("2-case-page-comment")
    (unhappy,) = [b for b in buttons if await phone.run(lambda b=b: b.text) == "不满意"]
    await phone.run(unhappy.click)
    await phone.wait_for("#notice")

    await case.refresh_from_db()
    assert case.state == CaseState.REOPENED
    assert case.satisfaction == 3
    assert case.satisfaction_comment == "车位还是不够，电话13812345678"
    assert case.visit_channel == "page"
    assert case.reply_due_at is not None
    # The same words the chat answers with.
    assert await phone.text("#notice .text") == visit_reopened(case.code, format_deadline_zh(case.reply_due_at))
    assert await phone.text("#notice h1") == "感谢您的评价"
    await phone.screenshot("3-thanks")
    assert await phone.console() == []

    await pages.run_jobs()
    to_member = [m.text for m in pages.platform.sent_to("zhangsan") if "【重办】" in m.text]
    assert len(to_member) == 1
    assert case.code in to_member[0]
    assert "车位还是不够" in to_member[0]
    assert "138****5678" in to_member[0]

    # The link is used up: how to ask again, with the code.
    await phone.open(url)
    await phone.wait_for("#notice")
    assert await phone.text("#notice h1") == "链接已失效"
    assert f"发送查询编号 {case.code}" in await phone.text("#notice .text")
    await phone.screenshot("4-link-used")
    assert document_status_only(await phone.console(), 410) == []

    # A made-up link: the same page without a code.
    await phone.open(pages.url("/c/" + "A" * 43))
    await phone.wait_for("#notice")
    assert case.code not in await phone.text("main")
    await phone.screenshot("5-link-unknown")
    assert document_status_only(await phone.console(), 404) == []


def test_without_chromium_the_browser_test_skips_except_in_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import tests.test_case_page_browser as module

    monkeypatch.setattr(module, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium missing"):
        require_browser()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"CI=true .*\.ci/run installs them"):
        require_browser()
