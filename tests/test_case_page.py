"""The citizen's case page over HTTP: what it shows, its links (valid, expired, used, forged, guessed),
and the return visit answered on it, with exactly the effect of answering in chat."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.app import SETTINGS
from bot.config import ConfigError, build_config
from handlers.cases.case_page import COMMENT_MAX_CHARS, case_page_url, hash_token
from models.case_page import CaseLink
from models.entities import Case, CaseEvent, CaseState, Citizen
from models.timeutil import now, set_clock
from tests import case_pages
from tests.case_pages import REPLY, ShiftedClock, citizen_says, link, new_case, replied_case, say, start_visit
from tests.harness import TRIAGE_HOOK, Stack

pages = case_pages.pages
business_clock = case_pages.business_clock

NONCE = re.compile(r'name="nonce" value="([0-9a-f]{64})"')


async def get(stack: Stack, url: str) -> tuple[int, str, Any]:
    assert stack.session is not None
    async with stack.session.get(url) as response:
        return response.status, await response.text(), response.headers


async def post(stack: Stack, url: str, data: Any) -> tuple[int, str]:
    assert stack.session is not None
    async with stack.session.post(url, data=data) as response:
        return response.status, await response.text()


async def nonce_of(stack: Stack, url: str) -> str:
    status, body, _ = await get(stack, url)
    assert status == 200, body
    match = NONCE.search(body)
    assert match, body
    return match.group(1)


async def timeline_size(case: Case) -> int:
    return await CaseEvent.filter(case=case).count()


async def test_the_page_shows_the_case_the_reply_the_timeline_and_the_survey(pages: Stack) -> None:
    case = await replied_case(pages, "o-p1")
    url = await link(pages, case)
    assert url.startswith(f"http://127.0.0.1:{pages.port}/c/")
    status, body, headers = await get(pages, url)
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert case.code in body
    assert "湖州市中心医院" in body
    assert "已答复" in body
    assert REPLY in body  # the whole reply, however long
    assert "——政协委员张三" in body
    assert "医院门口停车太难" in body
    local = case.created_at.astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}（北京时间）" in body
    for step in ("提交诉求", "已交办", "已答复"):
        assert step in body
    for choice in ('value="1">满意<', 'value="2">基本满意<', 'value="3" class="unhappy">不满意<'):
        assert choice in body
    assert 'maxlength="500"' in body
    # Nobody on the staff side by name, no internal notes, no script.
    for internal in ("李四", "lisi", "s-li", "staff:", "member:", "<script"):
        assert internal not in body
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp  # none at all, not even our own
    assert "form-action 'self'" in csp
    assert headers["Referrer-Policy"] == "no-referrer"  # the token must not leak to other sites
    assert headers["Cache-Control"] == "no-store"
    # The stylesheet is ours, served by us.
    href = re.search(r'<link rel="stylesheet" href="([^"]+)"', body)
    assert href
    status, css, css_headers = await get(pages, url.rsplit("/", 1)[0] + "/" + href.group(1))
    assert status == 200
    assert css_headers["Content-Type"].startswith("text/css")
    assert ".choices" in css


async def test_only_the_hash_of_a_token_is_stored_and_only_for_the_cases_citizen(pages: Stack) -> None:
    case = await new_case(pages, "o-p2", "急诊室空调坏了")
    settings = pages.app[SETTINGS]
    url = await case_page_url(case, case.citizen, settings)
    token = url.rsplit("/", 1)[1]
    assert len(token) == 43
    row = await CaseLink.get(case=case)
    assert row.token_hash == hash_token(token) != token
    assert not await CaseLink.filter(token_hash=token).exists()
    assert abs((row.expires_at - row.created_at) - timedelta(days=30)) < timedelta(seconds=1)
    assert await case_page_url(case, case.citizen, settings) != url  # a new link each call
    stranger = await Citizen.create(openid="o-p2-stranger")
    with pytest.raises(ValueError, match="own citizen"):
        await case_page_url(case, stranger, settings)


async def test_a_tracking_code_a_case_id_or_a_guess_never_opens_a_page(pages: Stack) -> None:
    case = await replied_case(pages, "o-p3")
    token = (await link(pages, case)).rsplit("/", 1)[1]
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    tries = [case.code, str(case.id), secrets.token_urlsafe(32), flipped, hash_token(token), token + "x", "x" * 500]
    bodies = set()
    for attempt in tries:
        status, body, headers = await get(pages, pages.url(f"/c/{attempt}"))
        assert status == 404, attempt
        assert case.code not in body
        assert "链接已失效" in body
        assert headers["Cache-Control"] == "no-store"
        bodies.add(body)
    assert len(bodies) == 1  # one page for every unknown token: nothing to tell them apart
    status, body = await post(pages, pages.url(f"/c/{case.code}"), {"score": "3", "nonce": "0" * 64})
    assert status == 404
    await case.refresh_from_db()
    assert case.state == CaseState.REPLIED


async def test_a_link_bound_to_someone_elses_case_opens_nothing(pages: Stack) -> None:
    mine = await replied_case(pages, "o-p4a")
    theirs = await replied_case(pages, "o-p4b", "病房晚上太吵")
    # A forged row: my citizen, their case (a bug or a tampered database must not open their page).
    token = secrets.token_urlsafe(32)
    await CaseLink.create(
        token_hash=hash_token(token),
        case=theirs,
        citizen=mine.citizen,
        created_at=now(),
        expires_at=now() + timedelta(days=1),
    )
    status, body, _ = await get(pages, pages.url(f"/c/{token}"))
    assert status == 404
    assert theirs.code not in body
    assert "病房晚上太吵" not in body
    status, _ = await post(pages, pages.url(f"/c/{token}"), {"score": "3", "nonce": "0" * 64})
    assert status == 404
    # My own link with their case's id and code in the form: the token alone says which case.
    url = await link(pages, mine)
    nonce = await nonce_of(pages, url)
    form = {"score": "1", "nonce": nonce, "case_id": str(theirs.id), "code": theirs.code, "comment": ""}
    status, body = await post(pages, url, form)
    assert status == 200
    assert mine.code in body
    await mine.refresh_from_db()
    await theirs.refresh_from_db()
    assert mine.state == CaseState.CLOSED
    assert theirs.state == CaseState.REPLIED
    assert theirs.satisfaction is None


async def test_an_expired_link_says_how_to_ask_again_and_changes_nothing(
    pages: Stack,
    business_clock: None,
) -> None:
    case = await replied_case(pages, "o-p5")
    url = await link(pages, case)
    nonce = await nonce_of(pages, url)
    set_clock(ShiftedClock(timedelta(days=29, hours=23)))
    status, _, _ = await get(pages, url)
    assert status == 200  # still within [case_page] link_ttl (30 days)
    set_clock(ShiftedClock(timedelta(days=30, minutes=1)))
    status, body, _ = await get(pages, url)
    assert status == 410
    assert "链接已失效" in body
    assert f"发送查询编号 {case.code}" in body
    assert REPLY not in body
    before = await timeline_size(case)
    status, body = await post(pages, url, {"score": "1", "nonce": nonce})
    assert status == 410
    assert case.code in body
    await case.refresh_from_db()
    assert case.state == CaseState.REPLIED
    assert await timeline_size(case) == before


async def test_a_satisfied_answer_closes_the_case_and_uses_the_link_up(pages: Stack) -> None:
    case = await replied_case(pages, "o-p6")
    url = await link(pages, case)
    nonce = await nonce_of(pages, url)
    status, body = await post(pages, url, {"score": "2", "comment": "停车好多了", "nonce": nonce})
    assert status == 200
    assert f"感谢您的评价（基本满意）！编号 {case.code} 已办结。" in body  # what the chat answers
    await case.refresh_from_db()
    assert case.state == CaseState.CLOSED
    assert (case.satisfaction, case.satisfaction_comment, case.visit_channel) == (2, "停车好多了", "page")
    close = await CaseEvent.get(case=case, kind="state:close")
    assert close.actor == "citizen:o-p6"
    assert (await CaseLink.get(case=case)).used_at is not None
    # Opened again: the link is used; how to ask again, with the code.
    status, body, _ = await get(pages, url)
    assert status == 410
    assert f"发送查询编号 {case.code}" in body
    assert REPLY not in body
    # The same form again (a reload, a replay): politely, nothing changes.
    before = await timeline_size(case)
    status, body = await post(pages, url, {"score": "3", "comment": "again", "nonce": nonce})
    assert status == 409
    assert "已经评价过了" in body
    await case.refresh_from_db()
    assert (case.state, case.satisfaction) == (CaseState.CLOSED, 2)
    assert await timeline_size(case) == before
    # Another link to the same case still shows it, finished, without the survey.
    status, body, _ = await get(pages, await link(pages, case))
    assert status == 200
    assert "已办结" in body
    assert "您的评价：基本满意" in body
    assert 'name="score"' not in body


async def test_unsatisfied_twice_reopens_to_the_member_then_escalates(pages: Stack) -> None:
    case = await replied_case(pages, "o-p7")
    url = await link(pages, case)
    status, body = await post(pages, url, {"score": "3", "comment": "还是没车位", "nonce": await nonce_of(pages, url)})
    assert status == 200
    assert f"很抱歉没有让您满意。编号 {case.code} 已重新办理" in body
    await case.refresh_from_db()
    assert (case.state, case.reopen_count) == (CaseState.REOPENED, 1)
    await pages.run_jobs()
    assert any("【重办】" in m.text and "还是没车位" in m.text for m in pages.platform.sent_to("zhangsan"))
    await say(pages, "zhangsan", f"答 {case.code} 已再增设50个车位")
    await pages.run_jobs()
    again = await link(pages, case)
    status, body, _ = await get(pages, again)
    assert "已再增设50个车位" in body
    assert REPLY in body  # both replies
    assert "重新办理" in body
    status, _ = await post(pages, again, {"score": "3", "comment": "依旧", "nonce": await nonce_of(pages, again)})
    assert status == 200
    await pages.run_jobs()
    assert any("二次不满意" in m.text and case.code in m.text for m in pages.platform.sent_to(TRIAGE_HOOK))


async def test_a_forged_or_stale_form_changes_nothing(pages: Stack) -> None:
    case = await replied_case(pages, "o-p8")
    url = await link(pages, case)
    other_url = await link(pages, case)
    other_nonce = await nonce_of(pages, other_url)
    before = await timeline_size(case)
    for form in ({"score": "3"}, {"score": "3", "nonce": "0" * 64}, {"score": "3", "nonce": other_nonce}):
        status, body = await post(pages, url, form)
        assert status == 403, form
        assert "没有改变任何内容" in body
    await case.refresh_from_db()
    assert case.state == CaseState.REPLIED
    assert await timeline_size(case) == before
    assert (await CaseLink.get(token_hash=hash_token(url.rsplit("/", 1)[1]))).used_at is None


async def test_a_form_from_before_a_new_reply_does_not_rate_the_new_one(pages: Stack) -> None:
    case = await replied_case(pages, "o-p9")
    url = await link(pages, case)
    old_nonce = await nonce_of(pages, url)
    await start_visit(pages)
    assert "重新办理" in await citizen_says(pages, "o-p9", "3 没解决")  # answered in chat meanwhile
    status, body = await post(pages, url, {"score": "1", "nonce": old_nonce})
    assert status == 409
    assert "重办中" in body
    await case.refresh_from_db()
    assert case.state == CaseState.REOPENED
    await say(pages, "zhangsan", f"答 {case.code} 已解决")
    await pages.run_jobs()
    status, body = await post(pages, url, {"score": "1", "nonce": old_nonce})
    assert status == 403  # the old page rated the old reply
    await case.refresh_from_db()
    assert case.state == CaseState.REPLIED
    status, _ = await post(pages, url, {"score": "1", "nonce": await nonce_of(pages, url)})
    assert status == 200
    await case.refresh_from_db()
    assert case.state == CaseState.CLOSED


@pytest.mark.parametrize(
    "form",
    [
        {"score": "4"},
        {"score": "0"},
        {"score": "-1"},
        {"score": ""},
        {},
        {"score": "满意"},
        {"score": "1.0"},
        [("score", "1"), ("score", "3")],
        {"score": "1", "comment": "长" * (COMMENT_MAX_CHARS + 1)},
    ],
)
async def test_out_of_bounds_input_is_a_400_page_and_changes_nothing(pages: Stack, form: Any) -> None:
    case = await replied_case(pages, "o-p10")
    url = await link(pages, case)
    nonce = await nonce_of(pages, url)
    data = [*form, ("nonce", nonce)] if isinstance(form, list) else {**form, "nonce": nonce}
    status, body = await post(pages, url, data)
    assert status == 400
    assert "没有改变任何内容" in body
    await case.refresh_from_db()
    assert case.state == CaseState.REPLIED
    assert (await CaseLink.get(case=case)).used_at is None


async def test_a_comment_of_exactly_the_limit_is_kept_and_markup_is_text(pages: Stack) -> None:
    case = await replied_case(pages, "o-p11", text='<script>alert("x")</script> 电话13812345678 <b>急</b>')
    url = await link(pages, case)
    status, body, _ = await get(pages, url)
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in body
    assert "&lt;b&gt;急&lt;/b&gt;" in body
    assert "13812345678" not in body  # personal numbers masked even here: a page can be shared
    assert "138****5678" in body
    comment = "<i>" + "好" * (COMMENT_MAX_CHARS - 7) + "</i>"
    assert len(comment) == COMMENT_MAX_CHARS
    form = {"score": "1", "comment": comment + "\x00", "nonce": await nonce_of(pages, url)}
    status, body = await post(pages, url, form)
    assert status == 200
    await case.refresh_from_db()
    assert case.satisfaction_comment == comment


async def test_a_page_answer_after_a_chat_answer_changes_nothing(pages: Stack) -> None:
    case = await replied_case(pages, "o-p12")
    url = await link(pages, case)
    nonce = await nonce_of(pages, url)
    await start_visit(pages)
    assert "已办结" in await citizen_says(pages, "o-p12", "1")
    status, body, _ = await get(pages, url)
    assert status == 200
    assert 'name="score"' not in body
    assert "已办结" in body
    status, body = await post(pages, url, {"score": "3", "nonce": nonce})
    assert status == 409
    assert "不在回访中" in body
    await case.refresh_from_db()
    assert (case.state, case.satisfaction, case.visit_channel) == (CaseState.CLOSED, 1, "citizen")
    assert (await CaseLink.get(case=case)).used_at is None


async def test_a_case_without_a_reply_yet(pages: Stack) -> None:
    case = await new_case(pages, "o-p13", "挂号难")
    status, body, _ = await get(pages, await link(pages, case))
    assert status == 200
    assert "待分拣" in body
    assert "暂无答复" in body
    assert 'name="score"' not in body


def test_link_ttl_is_configurable_and_checked() -> None:
    assert build_config({}, environ={}).case_page.link_ttl == 30 * 86400
    assert build_config({"case_page": {"link_ttl": "7d"}}, environ={}).case_page.link_ttl == 7 * 86400
    assert build_config({}, environ={"MASHANG_CASE_PAGE_LINK_TTL": "2h"}).case_page.link_ttl == 7200
    for bad in ("soon", "30"):  # 30 seconds: surely meant days
        with pytest.raises(ConfigError, match=r"^case_page\.link_ttl"):
            build_config({"case_page": {"link_ttl": bad}}, environ={})
