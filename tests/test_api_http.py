"""The mini-program API over HTTP against the fake platform: every route and every error it documents."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from bot.app import REDIS
from models.entities import Case, CaseEvent, CaseMessage, CaseState, Citizen, ContactPoint
from models.jobs import Job
from models.miniprogram import SubscribeConsent, Upload
from models.timeutil import now
from models.tracking import is_valid_code
from tests.api_flow import assign, reply, say, to_return_visit
from tests.harness import Stack
from tests.mini_client import LAMP, MiniUser, call, signed_in

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 200
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 100
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 100
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 100
MIB = 1024 * 1024


def other_code(code: str) -> str:
    """A code with the same digits but one changed and the check digit fixed: a real code, not ours."""
    from models.tracking import damm_digit

    body = code[2:-1]
    changed = body[:-1] + str((int(body[-1]) + 5) % 10)
    return f"MS{changed}{damm_digit(changed)}"


def mistyped(code: str) -> str:
    return code[:-1] + str((int(code[-1]) + 1) % 10)


# ---- sessions ---------------------------------------------------------------------------------------


async def test_a_login_code_gives_our_own_token_and_no_session_key(stack: Stack) -> None:
    answer = await call(stack, "POST", "/session", json_body={"code": "demo-alice"})
    assert answer.status == 201, answer.body
    assert set(answer.body) == {"token", "expires_in"}
    assert answer.body["expires_in"] == 7 * 86400
    redis = stack.app[REDIS]
    keys = [key async for key in redis.scan_iter(match="ms:api:session:*")]
    assert len(keys) == 1
    assert answer.body["token"] not in keys[0].decode()  # only its hash names the key
    assert 0 < await redis.ttl(keys[0]) <= 7 * 86400
    stored = json.loads(await redis.get(keys[0]))
    assert set(stored) == {"citizen_id", "openid"}  # WeChat's session_key is nowhere
    citizen = await Citizen.get(openid=stack.platform.mini_openid("alice"))
    assert citizen.channel == "wxa"
    me = await call(stack, "GET", "/me", token=answer.body["token"])
    assert me.status == 200
    assert me.body == {"channels": ["miniprogram"], "cases_count": 0, "phone": None, "consents": {}}


@pytest.mark.parametrize(
    ("errcode", "status", "code"),
    [(40029, 401, "login_code_invalid"), (45011, 429, "login_rate_limited"), (40226, 403, "login_blocked")],
)
async def test_wechat_login_errors_become_clear_answers(stack: Stack, errcode: int, status: int, code: str) -> None:
    stack.platform.fail_next("jscode2session", errcode=errcode)
    answer = await call(stack, "POST", "/session", json_body={"code": "demo-bob"})
    assert answer.status == status
    assert answer.error["code"] == code
    assert answer.error["message"]
    if status == 429:
        assert int(answer.headers["Retry-After"]) > 0


async def test_a_bad_or_reused_login_code_is_401_and_wechat_down_is_503(stack: Stack) -> None:
    assert (await call(stack, "POST", "/session", json_body={"code": "not-a-code"})).status == 401
    assert (await call(stack, "POST", "/session", json_body={"code": "demo-carol.1"})).status == 201
    reused = await call(stack, "POST", "/session", json_body={"code": "demo-carol.1"})
    assert reused.status == 401
    stack.platform.fail_next("jscode2session", http_status=502)
    down = await call(stack, "POST", "/session", json_body={"code": "demo-carol.2"})
    assert down.status == 503
    assert down.error["code"] == "wechat_unavailable"
    assert "Retry-After" in down.headers


async def test_malformed_requests_get_400_413_415_422_in_the_error_shape(stack: Stack) -> None:
    async def raw(data: bytes, content_type: str = "application/json") -> tuple[int, dict]:
        answer = await call(stack, "POST", "/session", data=data, headers={"Content-Type": content_type})
        return answer.status, answer.error

    assert (await raw(b"{not json"))[0] == 400
    assert (await raw(b"[1, 2]"))[0] == 400
    assert (await raw(b'{"code": NaN}'))[0] == 400
    assert (await raw(b"\xff\xfe"))[0] == 400
    assert (await raw(b"[" * 50_000 + b"]" * 10))[0] in (400, 413)
    assert (await raw(b'{"code": "x"}', "text/plain"))[0] == 415
    assert (await raw(b'{"code": "' + b"x" * 70_000 + b'"}'))[0] == 413
    status, error = await raw(b"{}")
    assert (status, error["field"]) == (422, "code")
    status, error = await raw(b'{"code": 5}')
    assert (status, error["field"]) == (422, "code")
    status, error = await raw(b'{"code": "demo-x", "extra": 1}')
    assert (status, error["code"], error["field"]) == (422, "unknown_field", "extra")


async def test_unknown_routes_and_methods_answer_json(stack: Stack) -> None:
    missing = await call(stack, "GET", "/nothing-here")
    assert missing.status == 404
    assert missing.error["code"] == "not_found"
    wrong = await call(stack, "PUT", "/cases")
    assert wrong.status == 405
    assert wrong.error["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/me"),
        ("DELETE", "/me/phone"),
        ("GET", "/cases"),
        ("POST", "/cases"),
        ("GET", "/cases/MS26120100017"),
        ("POST", "/cases/MS26120100017/messages"),
        ("POST", "/cases/MS26120100017/rating"),
        ("POST", "/subscriptions"),
        ("POST", "/uploads"),
    ],
)
async def test_every_citizen_route_needs_a_valid_token(stack: Stack, method: str, path: str) -> None:
    alice = await signed_in(stack, "alice")
    for token in (None, "", "not-a-token", "A" * 43, alice.token[:-1] + ("A" if alice.token[-1] != "A" else "B")):
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        answer = await call(stack, method, path, headers=headers, json_body={})
        assert answer.status == 401, (token, answer.body)
        assert answer.error["code"] == "unauthorized"
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    basic = await call(stack, method, path, headers={"Authorization": f"Basic {alice.token}"})
    assert basic.status == 401


async def test_an_expired_session_is_401(stack: Stack) -> None:
    alice = await signed_in(stack, "alice")
    assert (await alice.request("GET", "/me")).status == 200
    redis = stack.app[REDIS]
    async for key in redis.scan_iter(match="ms:api:session:*"):
        await redis.delete(key)  # what the TTL does after [miniprogram] session_ttl
    assert (await alice.request("GET", "/me")).status == 401


# ---- contact points --------------------------------------------------------------------------------


async def test_contact_points_need_no_token_and_a_revoked_one_still_takes_cases(stack: Stack) -> None:
    point = await call(stack, "GET", "/contact-points/hz-hospital-1")
    assert point.status == 200
    assert point.body["name"] == "湖州市中心医院"
    assert point.body["active"] is True
    assert set(point.body) == {"key", "name", "kind", "district", "prompt", "active"}
    assert (await call(stack, "GET", "/contact-points/no-such-point")).status == 404
    assert (await call(stack, "GET", "/contact-points/hz%00")).status == 404  # no NUL reaches PostgreSQL
    await ContactPoint.filter(key="hz-hospital-1").update(revoked_at=now())
    revoked = await call(stack, "GET", "/contact-points/hz-hospital-1")
    assert revoked.body["active"] is False
    assert "停止使用" in revoked.body["prompt"]
    alice = await signed_in(stack, "alice")
    code = await alice.new_case()
    case = await Case.get(code=code)
    assert case.contact_point_id is None  # as a message after scanning a revoked code


# ---- filing a case ---------------------------------------------------------------------------------


async def test_a_case_filed_in_the_mini_program_is_a_case_like_any_other(stack: Stack) -> None:
    oa_answer = await stack.citizen().text("o-oa-citizen", "公交站台的顶棚漏雨")
    oa_code = oa_answer.reply["Content"].split("查询编号：")[1][:13]
    alice = await signed_in(stack, "alice")
    answer = await alice.file_case("医院门口停车太难，每天排队一小时")
    assert answer.status == 201
    code = answer.body["tracking_code"]
    assert is_valid_code(code, "MS")
    assert int(code[8:12]) == int(oa_code[8:12]) + 1  # the same day's series
    assert answer.body["status"] == "received"
    assert answer.body["status_text"] == "待分拣"
    assert code in answer.body["message"]
    case = await Case.get(code=code).prefetch_related("citizen", "contact_point")
    assert case.citizen.openid == alice.openid
    assert case.contact_point.key == "hz-hospital-1"
    assert case.assign_due_at is not None
    await stack.run_jobs()
    assert any(code in card for card in stack.triage_messages())  # the triage card
    kinds = [e.kind for e in await CaseEvent.filter(case=case).order_by("id")]
    assert kinds[:2] == ["created", "message.in"]
    assert "category.suggested" in kinds
    assert await Job.filter(kind="sla.remind", case=case).exists()  # the assignment deadline runs
    assert not stack.platform.sent_to(alice.openid)  # the acknowledgement was the HTTP answer


async def test_an_idempotency_key_replays_the_first_answer_and_files_nothing_new(stack: Stack) -> None:
    alice = await signed_in(stack, "alice")
    key = {"Idempotency-Key": "b6a7c1e2-0001"}
    first = await alice.file_case(headers=key)
    again = await alice.file_case(headers=key)
    assert (again.status, again.body) == (first.status, first.body)
    assert await Case.all().count() == 1
    other_body = await alice.file_case("别的问题", headers=key)
    assert other_body.status == 422
    assert other_body.error["code"] == "idempotency_key_reused"
    racing = await asyncio.gather(*(alice.file_case("同时提交", headers={"Idempotency-Key": "race"}) for _ in range(4)))
    assert len({json.dumps(r.body, sort_keys=True) for r in racing}) == 1
    assert {r.status for r in racing} == {201}
    assert await Case.all().count() == 2
    assert (await alice.file_case(headers={"Idempotency-Key": "has space"})).status == 422


async def test_filing_validates_every_field(stack: Stack) -> None:
    alice = await signed_in(stack, "alice")
    bob = await signed_in(stack, "bob")
    cases = [
        ({"text": ""}, "text"),
        ({"text": "   \n"}, "text"),
        ({"text": "长" * 2001}, "text"),
        ({"text": 42}, "text"),
        ({"point": "no-such-point"}, "contact_point"),
        ({"point": "hz\x00"}, "contact_point"),  # PostgreSQL refuses NUL: never sent to it
        ({"location": {"latitude": 91, "longitude": 120}}, "location"),
        ({"location": {"latitude": 30, "longitude": "east"}}, "location"),
        ({"location": {"latitude": 30}}, "location"),
        ({"upload_ids": ["nope"]}, "upload_ids"),
        ({"upload_ids": ["\x00"]}, "upload_ids"),
        ({"upload_ids": "nope"}, "upload_ids"),
        ({"phone_code": "not-a-phone-code"}, "phone_code"),
    ]
    for fields, field in cases:
        text = fields.pop("text", LAMP)
        point = fields.pop("point", "hz-hospital-1")
        answer = await alice.file_case(text, point, **fields)
        assert answer.status == 422, (fields, answer.body)
        assert answer.error["field"] == field
    bobs = await bob.upload(JPEG)
    answer = await alice.file_case(upload_ids=[bobs.body["upload_id"]])  # somebody else's upload
    assert (answer.status, answer.error["field"]) == (422, "upload_ids")
    assert await Case.all().count() == 0
    assert (await alice.file_case("路灯" * 1000)).status == 201  # 2,000 characters is fine


async def test_location_uploads_and_phone_go_with_the_case(stack: Stack) -> None:
    alice = await signed_in(stack, "alice")
    photo = await alice.upload(JPEG)
    assert photo.status == 201
    assert photo.body["kind"] == "image"
    location = {"latitude": 30.87, "longitude": 120.09, "address": "湖州市吴兴区人民路"}
    answer = await alice.file_case(
        upload_ids=[photo.body["upload_id"]], location=location, phone_code="phone-13812345678"
    )
    assert answer.status == 201, answer.body
    case = await Case.get(code=answer.body["tracking_code"])
    messages = await CaseMessage.filter(case=case).order_by("id")
    assert [m.msg_type for m in messages] == ["text", "location", "image"]
    assert messages[1].extra["latitude"] == 30.87
    assert messages[2].media_path is not None
    assert await asyncio.to_thread(Path(messages[2].media_path).read_bytes) == JPEG
    assert (await Citizen.get(openid=alice.openid)).phone == "13812345678"
    me = await alice.request("GET", "/me")
    assert me.body["phone"] == "138****5678"
    assert me.body["cases_count"] == 1
    again = await alice.file_case(upload_ids=[photo.body["upload_id"]])  # an upload is used once
    assert (again.status, again.error["field"]) == (422, "upload_ids")
    forgotten = await alice.request("DELETE", "/me/phone")
    assert forgotten.status == 200
    assert forgotten.body["phone"] is None
    assert (await Citizen.get(openid=alice.openid)).phone is None


async def test_the_phone_number_reaches_staff_masked_only(stack: Stack) -> None:
    alice = await signed_in(stack, "alice")
    code = (await alice.file_case(phone_code="phone-13912345678")).body["tracking_code"]
    await to_return_visit(stack, code)
    await Job.filter(kind="visit.timeout").update(run_at=now())
    await stack.run_jobs()
    staff_saw = "\n".join(stack.triage_messages())
    assert "139****5678" in staff_saw
    assert "13912345678" not in staff_saw


# ---- reading cases ---------------------------------------------------------------------------------


async def test_the_case_list_is_the_callers_own_newest_first_in_pages(stack: Stack) -> None:
    alice = await signed_in(stack, "alice")
    bob = await signed_in(stack, "bob")
    codes = [await alice.new_case(f"第{i}件事") for i in range(5)]
    await bob.new_case("鲍勃的事")
    first = await alice.request("GET", "/cases", params={"limit": "2"})
    assert first.status == 200
    assert [c["tracking_code"] for c in first.body["cases"]] == codes[::-1][:2]
    seen = [c["tracking_code"] for c in first.body["cases"]]
    cursor = first.body["next_cursor"]
    while cursor:
        page = await alice.request("GET", "/cases", params={"limit": "2", "cursor": cursor})
        seen += [c["tracking_code"] for c in page.body["cases"]]
        cursor = page.body["next_cursor"]
    assert seen == codes[::-1]
    everything = await alice.request("GET", "/cases")
    assert everything.body["next_cursor"] is None
    assert everything.body["cases"][0]["channel"] == "miniprogram"
    for params, field in (({"cursor": "garbage!"}, "cursor"), ({"limit": "0"}, "limit"), ({"limit": "x"}, "limit")):
        bad = await alice.request("GET", "/cases", params=params)
        assert (bad.status, bad.error["field"]) == (422, field)


async def test_someone_elses_code_reads_exactly_like_a_missing_one(stack: Stack) -> None:
    alice = await signed_in(stack, "alice")
    bob = await signed_in(stack, "bob")
    code = await alice.new_case()
    mine = await alice.request("GET", f"/cases/{code}")
    assert mine.status == 200
    assert mine.body["tracking_code"] == code
    theirs = await bob.request("GET", f"/cases/{code}")
    missing = await bob.request("GET", f"/cases/{other_code(code)}")
    assert theirs.status == missing.status == 404
    assert theirs.body == missing.body
    assert theirs.error["code"] == "not_found"
    typo = await alice.request("GET", f"/cases/{mistyped(code)}")
    assert typo.status == 404
    assert typo.error["code"] == "bad_check_digit"
    assert (await alice.request("GET", "/cases/hello")).error["code"] == "not_found"
    for path in (f"/cases/{code}/messages", f"/cases/{code}/rating"):
        refused = await bob.request("POST", path, json_body={"text": "x", "score": 1})
        assert refused.status == 404


async def test_the_case_view_shows_replies_signed_and_a_timeline_without_staff(stack: Stack) -> None:
    alice = await signed_in(stack, "alice")
    code = await alice.new_case()
    await assign(stack, code)
    await reply(stack, code, "已协调城管，路灯明天修好")
    view = await alice.request("GET", f"/cases/{code}")
    assert view.status == 200
    body = view.body
    assert body["status"] == "replied"
    assert [r["text"] for r in body["replies"]] == ["已协调城管，路灯明天修好"]
    assert body["replies"][0]["signature"] == "政协湖州市委员会"
    assert body["replies"][0]["by"] == "政协委员张三"  # what the chat reply is signed with, no more
    assert [e["kind"] for e in body["timeline"]][:3] == ["submitted", "assigned", "replied"]
    assert body["messages"][0] == {**body["messages"][0], "kind": "citizen", "text": LAMP}
    assert body["deadlines"]["reply_due_at"] is not None
    assert body["can_rate"] is False
    text = json.dumps(body, ensure_ascii=False)
    assert "李" not in text  # the staff member who assigned it
    assert "lisi" not in text
    assert "zhangsan" not in text


# ---- follow-ups and ratings -------------------------------------------------------------------------


async def test_an_answer_to_a_members_question_reaches_the_member(stack: Stack) -> None:
    alice = await signed_in(stack, "alice")
    code = await alice.new_case()
    await assign(stack, code)
    await say(stack, "zhangsan", f"问 {code} 具体是哪栋楼门口？")
    await stack.run_jobs()
    view = await alice.request("GET", f"/cases/{code}")
    assert view.body["status"] == "needs_info"
    assert view.body["messages"][-1]["kind"] == "question"
    before = len(stack.platform.sent_to("zhangsan"))
    key = {"Idempotency-Key": "answer-1"}
    answer = await alice.request("POST", f"/cases/{code}/messages", json_body={"text": "3号楼东门"}, headers=key)
    assert answer.status == 201, answer.body
    assert answer.body["status"] == "accepted"
    again = await alice.request("POST", f"/cases/{code}/messages", json_body={"text": "3号楼东门"}, headers=key)
    assert again.body == answer.body
    await stack.run_jobs()
    forwarded = stack.platform.sent_to("zhangsan")[before:]
    assert len(forwarded) == 1
    assert "3号楼东门" in forwarded[0].text
    assert await CaseMessage.filter(case__code=code, direction="in").count() == 2
    empty = await alice.request("POST", f"/cases/{code}/messages", json_body={"text": ""})
    assert (empty.status, empty.error["field"]) == (422, "text")


async def test_a_closed_case_takes_no_follow_up(stack: Stack) -> None:
    alice = await signed_in(stack, "alice")
    code = await alice.new_case()
    early = await alice.request("POST", f"/cases/{code}/rating", json_body={"score": 1})
    assert early.status == 409
    assert early.error["code"] == "not_in_return_visit"
    await to_return_visit(stack, code)
    assert (await alice.request("GET", f"/cases/{code}")).body["can_rate"] is True
    for bad in ({"score": 4}, {"score": "1"}, {"score": True}, {}, {"score": 1, "comment": "长" * 501}):
        refused = await alice.request("POST", f"/cases/{code}/rating", json_body=bad)
        assert refused.status == 422, bad
    rated = await alice.request("POST", f"/cases/{code}/rating", json_body={"score": 2, "comment": "还行"})
    assert rated.status == 200, rated.body
    assert rated.body["status"] == "closed"
    case = await Case.get(code=code)
    assert (case.state, case.satisfaction, case.visit_channel) == (CaseState.CLOSED, 2, "wxa")
    closed = await alice.request("POST", f"/cases/{code}/messages", json_body={"text": "又坏了"})
    assert closed.status == 409
    assert closed.error["code"] == "case_closed"
    assert "重新提交" in closed.error["message"]
    twice = await alice.request("POST", f"/cases/{code}/rating", json_body={"score": 1})
    assert twice.status == 409


async def test_an_unsatisfied_rating_reopens_to_the_same_member(stack: Stack) -> None:
    alice = await signed_in(stack, "alice")
    code = await alice.new_case()
    await to_return_visit(stack, code)
    before = len(stack.platform.sent_to("zhangsan"))
    rated = await alice.request("POST", f"/cases/{code}/rating", json_body={"score": 3, "comment": "还是没修好"})
    assert rated.body["status"] == "reopened"
    await stack.run_jobs()
    told = stack.platform.sent_to("zhangsan")[before:]
    assert any(code in m.text and "还是没修好" in m.text for m in told)


# ---- subscriptions and uploads -------------------------------------------------------------------------


async def test_consents_are_counted_one_per_acceptance(stack: Stack) -> None:
    alice = await signed_in(stack, "alice")
    answer = await alice.consent("tpl-a", "tpl-b", "tpl-a")
    assert answer.status == 200
    assert answer.body == {"consents": {"tpl-a": 2, "tpl-b": 1}}
    assert (await alice.consent("tpl-b")).body == {"consents": {"tpl-b": 2}}
    assert await SubscribeConsent.filter(template_id="tpl-a").count() == 1
    for bad in ([], ["bad id!"], [1], "tpl-a", ["x"] * 11):
        refused = await alice.request("POST", "/subscriptions", json_body={"accepted": bad})
        assert (refused.status, refused.error["field"]) == (422, "accepted")
    assert (await alice.request("GET", "/me")).body["consents"] == {"tpl-a": 2, "tpl-b": 2}


@pytest.mark.parametrize(
    ("content", "kind", "content_type"),
    [
        (JPEG, "image", "image/jpeg"),
        (PNG, "image", "image/png"),
        (WEBP, "image", "image/webp"),
        (MP3, "voice", "audio/mpeg"),
        (MP4, "video", "video/mp4"),
    ],
)
async def test_uploads_are_told_apart_by_their_bytes(
    stack: Stack, content: bytes, kind: str, content_type: str
) -> None:
    alice = await signed_in(stack, "alice")
    answer = await alice.upload(content, filename="whatever.bin", content_type="application/octet-stream")
    assert answer.status == 201, answer.body
    assert answer.body["kind"] == kind
    assert answer.body["content_type"] == content_type
    assert answer.body["size"] == len(content)
    upload = await Upload.get(public_id=answer.body["upload_id"])
    assert await asyncio.to_thread(Path(upload.path).read_bytes) == content


async def test_disguised_oversized_and_missing_files_are_refused(stack: Stack) -> None:
    alice = await signed_in(stack, "alice")
    disguised = await alice.upload(EXE, filename="photo.jpg", content_type="image/jpeg")
    assert disguised.status == 415
    assert disguised.error["code"] == "unsupported_file_type"
    assert (await alice.upload(b"", filename="empty.jpg")).status == 422
    big_image = await alice.upload(JPEG + b"\x00" * (5 * MIB))
    assert big_image.status == 413
    assert big_image.error["field"] == "file"
    audio = await alice.upload(MP3 + b"\x00" * (6 * MIB), filename="a.mp3", content_type="audio/mpeg")
    assert audio.status == 201  # audio and video may be twice as large
    huge = await alice.upload(MP4 + b"\x00" * (10 * MIB), filename="v.mp4", content_type="video/mp4")
    assert huge.status == 413
    assert await Upload.all().count() == 1
    media = Path(stack.config.intake.media_dir) / "uploads"
    files = await asyncio.to_thread(lambda: [p for p in media.rglob("*") if p.is_file()])
    assert len(files) == 1  # nothing left of the refused ones
    json_body = await alice.request("POST", "/uploads", json_body={"file": "x"})
    assert json_body.status == 415
    assert (await alice.request("POST", "/uploads", data={"file": "x"})).status == 415  # urlencoded
    other = aiohttp.FormData()
    other.add_field("picture", JPEG, filename="a.jpg", content_type="image/jpeg")
    form = await alice.request("POST", "/uploads", data=other)
    assert (form.status, form.error["field"]) == (422, "file")


# ---- rate limits -----------------------------------------------------------------------------------


@pytest.fixture
async def limited(database_url: str, redis_url: str, redis_client, tmp_path: Path):
    from tests.conftest import reset_postgres

    if database_url.startswith("postgres"):
        await reset_postgres(database_url)
    harness = Stack(database_url=database_url, redis_url=redis_url, tmp_path=tmp_path)
    try:
        await harness.start(miniprogram={"rate_limit_per_openid": 3, "rate_limit_per_ip": 8})
        yield harness
    finally:
        await harness.stop()


async def test_too_many_requests_get_429_with_retry_after(limited: Stack) -> None:
    alice = await MiniUser(limited, "alice").sign_in()  # 1 of the address's 8
    answers = [await alice.request("GET", "/me") for _ in range(4)]
    assert [a.status for a in answers] == [200, 200, 200, 429]
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 60
    assert answers[-1].error["code"] == "rate_limited"
    bob = await MiniUser(limited, "bob").sign_in()  # another openid has its own allowance
    assert (await bob.request("GET", "/me")).status == 200
    statuses = [(await call(limited, "GET", "/contact-points/hz-hospital-1")).status for _ in range(3)]
    assert statuses[-1] == 429  # the address's 8 a minute, whoever is signed in


async def test_staff_see_the_phone_a_mini_program_citizen_gave_with_phone_and_nobody_else_does(
    stack: Stack,
) -> None:
    alice = await signed_in(stack, "alice-phone")
    answer = await alice.file_case(phone_code="phone-13812345678")
    assert answer.status == 201, answer.body
    code = answer.body["tracking_code"]
    assert "13812345678" not in await say(stack, "lisi", f"查 {code}")  # masked everywhere else
    shown = await say(stack, "lisi", f"电话 {code}")
    assert "13812345678（小程序授权的手机号）" in shown
    assert code in shown
    refused = await say(stack, "zhangsan", f"电话 {code}")  # a member: a staff command, no number
    assert "13812345678" not in refused
