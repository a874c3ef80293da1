"""The web console over HTTP: who gets in (sessions, CSRF, the lock, viewers), the queue in the order of
`待办` with its filters, one case in full, and the forms doing what the chat commands do."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.app import REDIS, SETTINGS
from handlers.admin import accounts
from handlers.cases import queue as triage_queue
from handlers.texts import citizen as citizen_texts
from models.entities import Case, CaseEvent, CaseState
from models.sla import format_deadline_zh
from tests.console_client import ConsoleClient, csrf_of, tiny_png, with_password
from tests.harness import Stack
from tests.test_triage_and_members import new_case, say


async def test_pages_need_a_session_and_the_login_form_lets_staff_in(
    console_stack: Stack, browser: ConsoleClient
) -> None:
    status, page = await browser.get("/console/cases?state=all")
    assert status == 200
    assert 'id="login"' in page  # sent to the login page
    status, page = await browser.login("s-li")
    assert status == 200
    assert "李四（分拣员）" in page
    assert 'id="queue"' in page
    async with browser.http.get(console_stack.url("/console")) as response:
        csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    cookie = await session_cookie(console_stack)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/console" in cookie
    assert "Secure" not in cookie  # http://127.0.0.1 here


async def session_cookie(stack: Stack) -> str:
    """The Set-Cookie header of a successful login."""
    client = ConsoleClient(stack)
    try:
        async with client.http.get(stack.url("/console/login")) as form:
            page = await form.text()
            login_cookie = form.cookies["ms_console_login"].value  # sent back by hand: a Secure one is not over http
        async with client.http.post(
            stack.url("/console/login"),
            data={"username": "s-li", "password": "demo password 1", "csrf": csrf_of(page)},
            headers={"Cookie": f"ms_console_login={login_cookie}"},
            allow_redirects=False,
        ) as response:
            assert response.status == 303
            return next(c for c in response.headers.getall("Set-Cookie") if c.startswith("ms_console="))
    finally:
        await client.close()


async def test_the_cookie_is_secure_when_the_service_is_public_over_https(console_stack: Stack) -> None:
    await console_stack.restart_with(server={"public_base_url": "https://mashang.example.gov.cn"})
    assert "Secure" in await session_cookie(console_stack)


async def test_a_wrong_password_says_so_and_five_lock_the_key_for_15_minutes(
    console_stack: Stack, browser: ConsoleClient
) -> None:
    for _attempt in range(4):
        status, page = await browser.login("s-li", "wrong password")
        assert status == 401
        assert "工作人员编号或密码不对" in page
    status, page = await browser.login("s-li", "wrong password")
    assert status == 429
    assert "已锁定 15 分钟" in page
    status, page = await browser.login("s-li")  # even the right password waits
    assert status == 429
    assert "已锁定 15 分钟" in page
    assert console_stack.clock is not None
    console_stack.clock.advance(15 * 60 + 1)
    status, page = await browser.login("s-li")
    assert status == 200
    assert 'id="queue"' in page


async def test_five_failures_from_one_address_lock_it_whatever_the_key(
    console_stack: Stack, browser: ConsoleClient
) -> None:
    for key in ("s-a", "s-b", "s-c", "s-d", "s-e"):
        await browser.login(key, "guess")
    status, page = await browser.login("s-zhou")
    assert status == 429
    assert "已锁定" in page


async def test_the_login_form_without_its_token_is_refused(console_stack: Stack, browser: ConsoleClient) -> None:
    status, page = await browser.post("/console/login", {"username": "s-li", "password": "demo password 1"})
    assert status == 403
    assert "登录页已过期" in page


async def test_the_session_ends_when_idle_disabled_or_the_password_changes(
    console_stack: Stack, browser: ConsoleClient
) -> None:
    assert console_stack.clock is not None
    await browser.login("s-li")
    console_stack.clock.advance(29 * 60)
    assert 'id="queue"' in (await browser.get("/console"))[1]
    console_stack.clock.advance(29 * 60)  # each request starts the idle time again
    assert 'id="queue"' in (await browser.get("/console"))[1]
    console_stack.clock.advance(31 * 60)
    assert 'id="login"' in (await browser.get("/console"))[1]

    await browser.login("s-li")
    await accounts.disable("s-li")
    assert 'id="login"' in (await browser.get("/console"))[1]
    status, _page = await browser.login("s-li")
    assert status == 401  # no password any more

    await with_password("s-li")
    await browser.login("s-li")
    await with_password("s-li", "another password")
    assert 'id="login"' in (await browser.get("/console"))[1]


async def test_the_queue_is_in_the_order_of_the_chat_and_marks_the_overdue(
    console_stack: Stack, browser: ConsoleClient
) -> None:
    first = await new_case(console_stack, "o-q1", "医院门口停车太难")
    second = await new_case(console_stack, "o-q2", "学校食堂太贵", point="hz-school-1")
    third = await new_case(console_stack, "o-q3", "企业审批太慢", point="hz-ent-1")
    assert third.code in await say(console_stack, "lisi", f"急 {third.code}")
    app = console_stack.app
    chat_order = [c.code for c in await triage_queue.queued_cases(app[REDIS], app[SETTINGS], 10)]
    await browser.login("s-li")
    _, page = await browser.get("/console")
    positions = [page.index(code) for code in chat_order]
    assert positions == sorted(positions)
    assert chat_order[0] == third.code  # urgent first
    assert {first.code, second.code} <= set(chat_order)
    assert "已超时" not in page
    assert console_stack.clock is not None
    await console_stack.advance(7 * 86400)
    await browser.login("s-li")  # days later: the session went idle
    _, page = await browser.get("/console")
    assert page.count('class="tag late"') == 3
    assert "其中 3 件已超时" in page


async def test_the_queue_filters(console_stack: Stack, browser: ConsoleClient) -> None:
    hospital = await new_case(console_stack, "o-f1", "医院门口停车太难")
    school = await new_case(console_stack, "o-f2", "学校食堂太贵", point="hz-school-1")
    firm = await new_case(console_stack, "o-f3", "企业审批太慢", point="hz-ent-1")
    await browser.login("s-zhou")

    async def found(query: str) -> set[str]:
        status, page = await browser.get(f"/console?{query}")
        assert status == 200, page
        return {code for code in (hospital.code, school.code, firm.code) if f"/console/cases/{code}" in page}

    assert await found("") == {hospital.code, school.code, firm.code}
    assert '<details class="card" id="filter-box">' in (await browser.get("/console"))[1]  # folded away
    assert '<details class="card" id="filter-box" open>' in (await browser.get("/console?q=x"))[1]  # shown
    assert await found("point=hz-school-1") == {school.code}
    assert await found("category=education") == {school.code}
    assert await found("district=南浔区") == {firm.code}
    assert await found("q=食堂") == {school.code}
    assert await found("q=审批") == {firm.code}
    assert await found(f"q={hospital.code}") == {hospital.code}
    assert await found("source=hotline") == set()
    assert await found("since=2000-01-01&until=2000-01-02") == set()
    assert await found("state=assigned") == set()
    _, page = await browser.get("/console?state=nonsense")
    assert "没有这个状态" in page
    _, page = await browser.get("/console?since=yesterday")
    assert "日期应为 YYYY-MM-DD" in page


async def test_assigning_from_the_form_is_the_chat_command_marked_console(
    console_stack: Stack, browser: ConsoleClient
) -> None:
    case = await new_case(console_stack, "o-a1", "医院门口停车太难，电话13812345678")
    await browser.login("s-li")
    status, page = await browser.get(f"/console/cases/{case.code}")
    assert status == 200
    assert "138****5678" in page
    assert "13812345678" not in page
    assert '<option value="m-zhang" selected>张三（建议）</option>' in page  # the suggested member
    assert "交办期限" in page
    assert "还剩" in page
    status, page = await browser.act(case.code, "assign", member="m-zhang")
    assert status == 200
    assert "已将" in page
    assert "交办给委员张三" in page
    await console_stack.run_jobs()
    await case.refresh_from_db()
    assert case.state == CaseState.ASSIGNED
    to_member = [m.text for m in console_stack.platform.sent_to("zhangsan")]
    assert any(case.code in text for text in to_member)
    assert case.reply_due_at is not None
    assigned = citizen_texts.assigned(case.code, "张三", format_deadline_zh(case.reply_due_at))
    assert assigned in console_stack.texts_to("o-a1")
    command = await CaseEvent.get(case=case, kind="command")
    assert command.actor == "staff:s-li"
    assert command.detail == {"line": f"派 {case.code} m-zhang", "via": "console"}
    assert (await CaseEvent.get(case=case, kind="state:assign")).actor == "staff:s-li"
    # The chat's 查 shows it, marked.
    assert "（控制台）" in await say(console_stack, "lisi", f"查 {case.code}")
    status, page = await browser.get(f"/console/cases/{case.code}")
    assert "（控制台）" in page


async def test_reply_reject_and_a_refusal_from_the_forms(console_stack: Stack, browser: ConsoleClient) -> None:
    case = await new_case(console_stack, "o-r1", "医院门口停车太难")
    other = await new_case(console_stack, "o-r2", "医院门口停车位不够")
    await browser.login("s-li")
    _, page = await browser.act(case.code, "reply", text="已协调增设停车位")
    assert "已答复" in page
    await console_stack.run_jobs()
    assert any("已协调增设停车位" in t and case.code in t for t in console_stack.texts_to("o-r1"))
    _, page = await browser.act(other.code, "reject", reason="")
    assert "未能办理" in page  # the chat's own refusal, nothing changed
    await other.refresh_from_db()
    assert other.state == CaseState.RECEIVED
    assert not await CaseEvent.filter(case=other, kind="command").exists()
    _, page = await browser.act(other.code, "category", category="transport")
    assert "交通出行" in page
    _, page = await browser.act(other.code, "merge", target=case.code)
    await other.refresh_from_db()
    assert other.state == CaseState.MERGED
    _, page = await browser.act(other.code, "urgent")
    assert "未能办理" in page  # a merged case keeps its urgency


async def test_a_viewer_sees_no_form_and_every_action_is_403(console_stack: Stack, browser: ConsoleClient) -> None:
    case = await new_case(console_stack, "o-v1", "医院门口停车太难")
    await browser.login("s-zhou")
    status, page = await browser.get(f"/console/cases/{case.code}")
    assert status == 200
    assert "周八（只读（领导））" in page
    assert 'id="actions"' not in page
    assert '<form method="post" action="/console/cases/' not in page
    for action in ("assign", "transfer", "reply", "merge", "reject", "category", "urgent", "visit"):
        status, answer = await browser.post(
            f"/console/cases/{case.code}/{action}", {"csrf": csrf_of(page), "member": "m-zhang", "text": "x"}
        )
        assert status == 403, action
        assert "只读账号" in answer
    await case.refresh_from_db()
    assert case.state == CaseState.RECEIVED


async def test_a_wrong_csrf_token_changes_nothing(console_stack: Stack, browser: ConsoleClient) -> None:
    case = await new_case(console_stack, "o-c1", "医院门口停车太难")
    await browser.login("s-li")
    status, page = await browser.post(f"/console/cases/{case.code}/assign", {"csrf": "forged", "member": "m-zhang"})
    assert status == 403
    assert "请求已失效" in page
    status, page = await browser.post(f"/console/cases/{case.code}/assign", {"member": "m-zhang"})
    assert status == 403
    await case.refresh_from_db()
    assert case.state == CaseState.RECEIVED
    status, page = await browser.post("/console/logout", {"csrf": "forged"})
    assert status == 403


async def test_the_event_stream_says_when_a_case_joins_or_leaves_the_queue(
    console_stack: Stack, browser: ConsoleClient
) -> None:
    await browser.login("s-li")
    async with browser.http.get(console_stack.url("/console/events")) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert (await stream.content.readuntil(b"\n\n")).startswith(b"retry:")
        case = await new_case(console_stack, "o-e1", "医院门口停车太难")
        event = await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 5)
        assert event.startswith(b"event: queue\n")
        assert json.loads(event.split(b"data: ", 1)[1]) == {"op": "add", "code": case.code}
        await browser.act(case.code, "assign", member="m-zhang")
        event = await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 5)
        assert json.loads(event.split(b"data: ", 1)[1]) == {"op": "remove", "code": case.code}
    await browser.post("/console/logout", {"csrf": csrf_of((await browser.get("/console"))[1])})
    async with browser.http.get(console_stack.url("/console/events")) as ended:
        assert ended.status == 401


async def test_the_figures_pages_are_in_the_frame(console_stack: Stack, browser: ConsoleClient) -> None:
    await browser.login("s-zhou")
    for path, title in (("map", "图谱"), ("deadlines", "时限"), ("members", "委员"), ("points", "联系点")):
        status, page = await browser.get(f"/console/{path}")
        assert status == 200
        assert f'<a href="/console/{path}" class="on" aria-current="page">{title}</a>' in page


async def test_a_case_that_does_not_exist_and_a_made_up_action(console_stack: Stack, browser: ConsoleClient) -> None:
    await browser.login("s-li")
    assert (await browser.get("/console/cases/MS2612010000"))[0] == 404
    case = await new_case(console_stack, "o-n1", "医院门口停车太难")
    status, _page = await browser.act(case.code, "explode")
    assert status == 404
    assert await Case.filter(state=CaseState.RECEIVED).count() == 1


async def test_on_postgresql_text_search_reads_the_trigram_index(console_stack: Stack, database_url: str) -> None:
    if not database_url.startswith("postgres"):
        pytest.skip("pg_trgm is PostgreSQL's")
    from tortoise.transactions import in_transaction

    from handlers.console.queue import Filters, filtered

    cases, _ = filtered(Filters(state="all", text="学校食堂"), console_stack.app[SETTINGS])
    sql = cases.sql().replace("$1", "'%学校食堂%'")  # the statement as the console sends it, its value inlined
    async with in_transaction() as conn:  # one connection: a tiny test table is read whole unless told not to
        await conn.execute_script("SET LOCAL enable_seqscan = off")
        plan = "\n".join(str(row["QUERY PLAN"]) for row in await conn.execute_query_dict("EXPLAIN " + sql))
    assert "case_summary_trgm" in plan


async def case_with_media(stack: Stack, openid: str) -> Case:
    """A case whose citizen also sent a photo, a voice message and a location (media fetched by the job)."""
    case = await new_case(stack, openid, "路灯坏了很久")
    stack.platform.add_media("media-photo", tiny_png(), "image/png")
    stack.platform.add_media("media-voice", b"#!AMR\n" + b"\0" * 64, "audio/amr")
    citizen = stack.citizen()
    await citizen.image(openid, "media-photo")
    await citizen.voice(openid, "media-voice", recognition="路灯不亮")
    await citizen.location(openid, 30.87, 120.09, 15, "湖州市吴兴区凤凰路")
    await stack.run_jobs()
    return case


async def test_the_case_page_shows_photos_voice_and_locations(console_stack: Stack, browser: ConsoleClient) -> None:
    case = await case_with_media(console_stack, "o-m1")
    await browser.login("s-zhou")  # a viewer reads everything, media too
    status, page = await browser.get(f"/console/cases/{case.code}")
    assert status == 200
    assert '<img src="/console/cases/' in page
    assert "<audio controls" in page
    assert "路灯不亮" in page  # WeChat's recognition of the voice
    assert "湖州市吴兴区凤凰路，北纬 30.87000，东经 120.09000" in page
    photo = page.split('<img src="', 1)[1].split('"', 1)[0]
    async with browser.http.get(console_stack.url(photo)) as response:
        assert response.status == 200
        assert response.content_type == "image/png"
        assert await response.read() == tiny_png()
    voice = page.split('<audio controls preload="none" src="', 1)[1].split('"', 1)[0]
    async with browser.http.get(console_stack.url(voice)) as response:
        assert response.status == 200
        assert response.content_type.startswith("audio/")
    # Another case's message id under this case, and a stranger: nothing.
    other = await new_case(console_stack, "o-m2", "医院门口停车太难")
    assert (await browser.get(photo.replace(case.code, other.code)))[0] == 404
    stranger = ConsoleClient(console_stack)
    try:
        status, page = await stranger.get(photo)
        assert 'id="login"' in page
    finally:
        await stranger.close()


async def test_the_event_stream_ends_when_the_account_is_disabled(
    console_stack: Stack, browser: ConsoleClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.web.console

    monkeypatch.setattr(bot.web.console, "KEEPALIVE_S", 0.2)  # how often an open stream checks its session
    await browser.login("s-li")
    async with browser.http.get(console_stack.url("/console/events")) as stream:
        await stream.content.readuntil(b"\n\n")
        await accounts.disable("s-li")
        seen = b""
        while b"event: ended" not in seen:
            seen += await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 5)


async def test_transfer_reply_and_a_phone_return_visit_from_the_forms(
    console_stack: Stack, browser: ConsoleClient
) -> None:
    case = await new_case(console_stack, "o-t1", "医院门口停车太难")
    await browser.login("s-li")
    _, page = await browser.act(case.code, "transfer", department="d-health", note="请卫健委协调")
    assert "转交市卫生健康委员会" in page
    await console_stack.run_jobs()
    assert citizen_texts.transferred(case.code, "市卫生健康委员会") in console_stack.texts_to("o-t1")
    _, page = await browser.act(case.code, "reply", text="卫健委已增设停车位")
    await console_stack.run_jobs()
    reply = citizen_texts.reply(case.code, "卫健委已增设停车位", "政协码上商工作人员")
    assert reply in console_stack.texts_to("o-t1")
    _, page = await browser.get(f"/console/cases/{case.code}")
    replies = page.split('id="replies"', 1)[1].split("</section>", 1)[0]
    assert "卫健委已增设停车位" in replies
    assert 'id="form-visit"' in page
    _, page = await browser.act(case.code, "visit", score="1", comment="电话里说满意")
    assert "已记录" in page
    await case.refresh_from_db()
    assert case.state == CaseState.CLOSED
    assert case.visit_channel == "phone"
    assert case.satisfaction == 1
    visit = page.split('id="visit"', 1)[1].split("</section>", 1)[0]
    assert "电话回访" in visit
    assert "满意" in visit
    assert 'id="actions"' not in page  # closed: nothing more to do


async def test_after_logging_in_the_page_asked_for_opens(console_stack: Stack, browser: ConsoleClient) -> None:
    case = await new_case(console_stack, "o-x1", "医院门口停车太难")
    status, page = await browser.get(f"/console/cases/{case.code}")
    assert 'id="login"' in page
    assert f'name="next" value="/console/cases/{case.code}"' in page
    status, page = await browser.post(
        "/console/login", {"username": "s-li", "password": "demo password 1", "csrf": csrf_of(page), "next": "//evil"}
    )
    assert 'id="queue"' in page  # only a console path is followed
    await browser.post("/console/logout", {"csrf": csrf_of(page)})
    _, page = await browser.get(f"/console/cases/{case.code}")
    fields = {"username": "s-li", "password": "demo password 1", "csrf": csrf_of(page)}
    status, page = await browser.post("/console/login", {**fields, "next": f"/console/cases/{case.code}"})
    assert status == 200
    assert 'id="case-head"' in page


async def test_what_a_citizen_wrote_is_escaped_on_every_page(console_stack: Stack, browser: ConsoleClient) -> None:
    case = await new_case(console_stack, "o-h1", '医院<script>alert("x")</script><img src=x onerror=alert(1)>')
    await browser.login("s-li")
    for path in ("/console", "/console/queue/rows?state=received", f"/console/cases/{case.code}"):
        _, page = await browser.get(path)
        assert "<script>alert" not in page, path
        assert "<img src=x" not in page, path
        assert "&lt;script&gt;" in page, path


async def test_a_change_made_by_another_process_reaches_the_stream(
    console_stack: Stack, browser: ConsoleClient, redis_url: str
) -> None:
    """Another process (its own Redis connection) queues a case: this process's open page hears of it."""
    from bot.redis_store import connect
    from models.after_commit import collecting, run_all

    case = await new_case(console_stack, "o-p1", "医院门口停车太难")
    await browser.login("s-li")
    other_process = connect(redis_url)
    try:
        async with browser.http.get(console_stack.url("/console/events")) as stream:
            await stream.content.readuntil(b"\n\n")
            with collecting() as deferred:
                await triage_queue.dequeue_case(other_process, console_stack.app[SETTINGS], case)
            await run_all(deferred)
            event = await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 5)
            assert json.loads(event.split(b"data: ", 1)[1]) == {"op": "remove", "code": case.code}
    finally:
        await other_process.aclose()
