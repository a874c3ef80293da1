"""码上商量 consultation topics over HTTP against the fake platform: the API's routes and errors, WeChat's
content checks (text and images, the wxa_media_check push), staff review and 立案, members' 议, and the
`mashang topic` commands."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest

from bot.cli.main import build_parser
from bot.cli.topics import run_topic
from models.entities import Case
from models.jobs import Job
from models.topics import ConsultationTopic, ImageStatus, Opinion, OpinionImage, OpinionStatus
from tests.api_flow import say
from tests.harness import Stack
from tests.mini_client import MiniUser, signed_in
from tests.test_api_delivery import REPLY_TEMPLATE, consent, subscribed
from tests.test_api_http import JPEG, MP3, PNG

UNTIL = (date.today() + timedelta(days=30)).isoformat()


async def topic_cli(stack: Stack, *argv: str) -> tuple[int, str]:
    assert stack.config is not None
    out = io.StringIO()
    args = build_parser().parse_args(["topic", *argv])
    code = await run_topic(stack.config, args, out=out, init_database=False)
    return code, out.getvalue()


async def open_topic(stack: Stack, key: str = "park", points: str = "hz-hospital-1") -> None:
    code, out = await topic_cli(
        stack, "create", key, "--title", "医院停车怎么办", "--body", "请谈谈医院周边停车", "--until", UNTIL,
        "--points", points,
    )  # fmt: skip
    assert code == 0, out


async def opine(user: MiniUser, text: str, key: str = "park", **fields: object) -> tuple[int, dict]:
    headers = fields.pop("headers", None)
    answer = await user.request("POST", f"/topics/{key}/opinions", json_body={"text": text, **fields}, headers=headers)
    return answer.status, answer.body


async def listed(user: MiniUser, key: str = "park", **params: str) -> list[dict]:
    answer = await user.request("GET", f"/topics/{key}/opinions", params=params or None)
    assert answer.status == 200, answer.body
    return list(answer.body["opinions"])


# ---- the CLI ------------------------------------------------------------------------------------------


async def test_topic_create_list_and_its_refusals(stack: Stack) -> None:
    await open_topic(stack)
    code, out = await topic_cli(stack, "list")
    assert code == 0
    assert "park  征集中" in out
    assert "已发布 0 条" in out
    for argv, message in [
        (["create", "park", "--title", "x", "--body", "y", "--until", UNTIL], "已存在"),
        (["create", "Bad_Key", "--title", "x", "--body", "y", "--until", UNTIL], "小写字母"),
        (["create", "old", "--title", "x", "--body", "y", "--until", "2020-01-01"], "不能早于今天"),
        (["create", "pts", "--title", "x", "--body", "y", "--until", UNTIL, "--points", "nowhere"], "nowhere"),
        (["close", "nothing", "--summary", "x"], "没有议题"),
    ]:
        code, out = await topic_cli(stack, *argv)
        assert (code, message in out) == (1, True), (argv, out)
    assert await ConsultationTopic.all().count() == 1


async def test_closing_posts_the_outcome_tells_participants_with_a_consent_and_sums_up(stack: Stack) -> None:
    await open_topic(stack)
    alice, bob = await signed_in(stack, "alice"), await signed_in(stack, "bob")
    await consent(stack, alice, REPLY_TEMPLATE)
    status, first = await opine(alice, "医院旁边建立体停车场", contact_point="hz-hospital-1")
    assert status == 201
    assert (await opine(bob, "错峰就诊可以减少停车"))[0] == 201
    assert (await bob.request("POST", f"/opinions/{first['opinion_id']}/support")).status == 200
    code, out = await topic_cli(stack, "close", "park", "--summary", "将新建停车楼，增加车位 300 个")
    assert code == 0, out
    assert "意见 2 条，参与 2 人" in out
    assert "按日期：" in out
    assert "hz-hospital-1  1" in out
    assert "（未经联系点）  1" in out
    top = out.split("附议最多的意见：")[1]
    assert top.index(f"#{first['opinion_id']}  附议 1") < top.index("错峰就诊")
    await stack.run_jobs()
    sent = subscribed(stack, alice.openid)
    assert len(sent) == 1
    assert "park" in sent[-1].text
    assert sent[-1].payload["page"] == "pages/topic/index?key=park"
    assert subscribed(stack, bob.openid) == []  # no consent: nothing pushed
    shown = await alice.request("GET", "/topics/park")
    assert shown.body["status"] == "closed"
    assert shown.body["summary"] == "将新建停车楼，增加车位 300 个"
    assert (await topic_cli(stack, "close", "park", "--summary", "again"))[0] == 1


# ---- the API -------------------------------------------------------------------------------------------


async def test_a_topic_and_its_errors(stack: Stack) -> None:
    await open_topic(stack)
    alice = await signed_in(stack, "alice")
    shown = await alice.request("GET", "/topics/park")
    assert shown.status == 200
    assert shown.body["title"] == "医院停车怎么办"
    assert shown.body["status"] == "open"
    assert shown.body["until"] == UNTIL
    assert shown.body["opinion_count"] == 0
    assert (await alice.request("GET", "/topics/nothing")).error["code"] == "not_found"
    anonymous = MiniUser(stack, "nobody")
    assert (await anonymous.request("GET", "/topics/park")).status == 401
    assert (await alice.request("GET", "/topics/park/opinions", params={"order": "oldest"})).status == 422
    assert (await alice.request("GET", "/topics/park/opinions", params={"cursor": "zzz"})).status == 422
    assert (await alice.request("GET", "/topics/park/opinions", params={"limit": "0"})).status == 422
    assert (await opine(alice, ""))[0] == 422
    assert (await opine(alice, "x" * 2001))[0] == 422
    status, body = await opine(alice, "好", contact_point="no-such-point")
    assert (status, body["error"]["field"]) == (422, "contact_point")
    assert (await opine(alice, "好", key="nothing"))[0] == 404
    assert await Opinion.all().count() == 0


async def test_a_passed_opinion_is_listed_with_a_masked_author_newest_or_most_supported_first(stack: Stack) -> None:
    await open_topic(stack)
    alice, bob, carol = [await signed_in(stack, n) for n in ("alice", "bob", "carol")]
    ids = []
    for user, text in [(alice, "多建停车位"), (bob, "开通公交专线到医院"), (carol, "电话 13812345678 联系我")]:
        status, body = await opine(user, text)
        assert (status, body["status"]) == (201, "published"), body
        ids.append(body["opinion_id"])
    newest = await listed(alice)
    assert [o["opinion_id"] for o in newest] == ids[::-1]
    assert newest[0]["author"]["label"] == "群众"
    assert "*" in newest[0]["author"]["nickname"]
    assert "13812345678" not in newest[0]["text"]  # personal numbers masked as everywhere
    # 附议: once per person; not one's own; an unknown one is 404
    assert (await carol.request("POST", f"/opinions/{ids[1]}/support")).body["support_count"] == 1
    assert (await alice.request("POST", f"/opinions/{ids[1]}/support")).body["support_count"] == 2
    again = await alice.request("POST", f"/opinions/{ids[1]}/support")
    assert (again.status, again.error["code"]) == (409, "already_supported")
    own = await bob.request("POST", f"/opinions/{ids[1]}/support")
    assert (own.status, own.error["code"]) == (409, "own_opinion")
    assert (await bob.request("POST", "/opinions/999999/support")).status == 404
    assert (await bob.request("POST", "/opinions/abc/support")).status == 404
    assert (await bob.request("POST", f"/opinions/{ids[2]}/support")).status == 200
    by_support = await listed(alice, order="support")
    assert [(o["opinion_id"], o["support_count"]) for o in by_support] == [(ids[1], 2), (ids[2], 1), (ids[0], 0)]
    # cursor pages: one at a time, the same order, nothing twice
    seen, cursor = [], None
    while True:
        params = {"order": "support", "limit": "1", **({"cursor": cursor} if cursor else {})}
        page = await alice.request("GET", "/topics/park/opinions", params=params)
        seen += [o["opinion_id"] for o in page.body["opinions"]]
        cursor = page.body["next_cursor"]
        if cursor is None:
            break
    assert seen == [ids[1], ids[2], ids[0]]
    # a cursor of one order does not page the other
    first = await alice.request("GET", "/topics/park/opinions", params={"order": "support", "limit": "1"})
    wrong = {"order": "newest", "cursor": first.body["next_cursor"]}
    assert (await alice.request("GET", "/topics/park/opinions", params=wrong)).status == 422
    assert (await alice.request("GET", "/topics/park")).body["opinion_count"] == 3


async def test_review_waits_for_staff_and_risky_is_refused_politely(stack: Stack) -> None:
    await open_topic(stack)
    alice = await signed_in(stack, "alice")
    status, body = await opine(alice, "这里有诈骗链接请点击")
    assert status == 422
    assert body["error"]["code"] == "content_risky"
    assert body["error"]["field"] == "text"
    assert "修改" in body["error"]["message"]
    assert await Opinion.all().count() == 0
    check = stack.platform.calls_to("/wxa/msg_sec_check")[-1].body
    assert (check["version"], check["scene"], check["openid"]) == (2, 2, alice.openid)
    status, waiting = await opine(alice, "这条含待审词的意见")
    assert (status, waiting["status"]) == (201, "review")
    status, rejected = await opine(alice, "另一条待审词意见")
    assert await listed(alice) == []  # nothing unchecked is listed
    await stack.run_jobs()
    card = stack.triage_messages()[-2]
    assert f"待审核意见 #{waiting['opinion_id']}" in card
    assert f"通过 {waiting['opinion_id']}" in card
    assert "已通过" in await say(stack, "lisi", f"通过 {waiting['opinion_id']}")
    assert "未通过" in await say(stack, "lisi", f"不通过 {rejected['opinion_id']}")
    assert "不在待审核中" in await say(stack, "lisi", f"通过 {rejected['opinion_id']}")
    assert "没有意见" in await say(stack, "lisi", "通过 12345678")
    assert [o["opinion_id"] for o in await listed(alice)] == [waiting["opinion_id"]]


async def test_a_retried_post_with_the_same_key_stores_one_opinion(stack: Stack) -> None:
    await open_topic(stack)
    alice = await signed_in(stack, "alice")
    headers = {"Idempotency-Key": "op-1"}
    first = await opine(alice, "多建停车位", headers=headers)
    second = await opine(alice, "多建停车位", headers=headers)
    assert first == second
    assert first[0] == 201
    assert await Opinion.all().count() == 1
    reused = await opine(alice, "另一条", headers=headers)
    assert (reused[0], reused[1]["error"]["code"]) == (422, "idempotency_key_reused")


async def test_a_closed_topic_takes_no_opinion_and_no_support(stack: Stack) -> None:
    await open_topic(stack)
    alice, bob = await signed_in(stack, "alice"), await signed_in(stack, "bob")
    _, body = await opine(alice, "多建停车位")
    await topic_cli(stack, "close", "park", "--summary", "已采纳")
    status, refused = await opine(alice, "还有一条")
    assert (status, refused["error"]["code"]) == (409, "topic_closed")
    support = await bob.request("POST", f"/opinions/{body['opinion_id']}/support")
    assert (support.status, support.error["code"]) == (409, "topic_closed")
    assert len(await listed(bob)) == 1  # what was published stays


# ---- images: WeChat's media check and its push ----------------------------------------------------------


@pytest.mark.parametrize(("data_format", "safe"), [("json", False), ("xml", False), ("json", True), ("xml", True)])
async def test_an_image_stays_hidden_until_the_media_check_event_says_pass(
    stack: Stack, data_format: str, safe: bool
) -> None:
    if safe:
        from tests.harness import AES_KEY

        await stack.restart_with(miniprogram={"push_encoding_aes_key": AES_KEY})
    await open_topic(stack)
    alice = await signed_in(stack, "alice")
    good = (await alice.upload(JPEG)).body["upload_id"]
    bad = (await alice.upload(PNG + b"RISKY", "b.png", "image/png")).body["upload_id"]
    status, body = await opine(alice, "停车场照片", upload_ids=[good, bad])
    assert (status, body["status"]) == (201, "published")
    assert (await listed(alice))[0]["image_ids"] == []  # the text is public, the images not yet
    await stack.run_jobs()
    asked = stack.platform.calls_to("/wxa/media_check_async")
    assert len(asked) == 2
    assert {c.body["media_type"] for c in asked} == {2}
    assert all(c.body["openid"] == alice.openid and c.body["version"] == 2 for c in asked)
    verdicts = await stack.deliver_media_checks(data_format)
    assert sorted(s for _, s in verdicts) == ["pass", "risky"]
    assert (await listed(alice))[0]["image_ids"] == [good]
    assert {i.status for i in await OpinionImage.all()} == {ImageStatus.PASS, ImageStatus.REFUSED}
    # once decided, WeChat's fetch URL is gone; an upload goes into one message only
    image = await OpinionImage.get(upload_id=good)
    async with stack.session.get(stack.url(f"/wxa/media/{image.fetch_token}")) as response:  # type: ignore[union-attr]
        assert response.status == 404
    assert (await opine(alice, "再用一次", upload_ids=[good]))[0] == 422


async def test_only_images_go_with_an_opinion(stack: Stack) -> None:
    await open_topic(stack)
    alice = await signed_in(stack, "alice")
    audio = (await alice.upload(MP3, "a.mp3", "audio/mpeg")).body["upload_id"]
    status, body = await opine(alice, "录音", upload_ids=[audio])
    assert (status, body["error"]["field"]) == (422, "upload_ids")


async def test_the_push_url_checks_signatures_and_answers_echostr(stack: Stack) -> None:
    sender = stack.wxa_push()
    assert await sender.verify("hello-123") == (200, "hello-123")
    assert (await sender.verify("x", tamper="signature"))[0] == 403
    forged = await sender.push(sender.media_check_event("t-1", "pass"), tamper="signature")
    assert forged.status == 403
    unknown = await sender.push(sender.media_check_event("no-such-trace", "pass"))
    assert unknown.status == 200
    assert unknown.body == "success"
    other = await sender.push({"MsgType": "event", "Event": "user_enter_tempsession"})
    assert other.status == 200
    broken = await sender.push({"Event": "wxa_media_check", "trace_id": "t"})  # no result.suggest
    assert broken.status == 400


# ---- WeCom: members' opinions, 议题, 立案 ---------------------------------------------------------------


async def test_members_post_from_wecom_and_staff_see_the_topics(stack: Stack) -> None:
    await open_topic(stack)
    alice = await signed_in(stack, "alice")
    answer = await say(stack, "zhangsan", "议 park 建议医院错峰预约就诊")
    assert "已发布在议题 park" in answer
    assert "没有议题" in await say(stack, "zhangsan", "议 nothing 建议")
    assert "议 <议题代号> <意见>" in await say(stack, "zhangsan", "议 park")
    _, body = await opine(alice, "多建停车位")
    await alice.request("POST", f"/opinions/{body['opinion_id'] - 1}/support")
    member_opinion = (await listed(alice))[-1]
    assert member_opinion["author"] == {"kind": "member", "label": "委员", "nickname": "张*"}
    topics = await say(stack, "lisi", "议题")
    assert "park「医院停车怎么办」 已发布 2 条，待审核 0 条" in topics
    top = await say(stack, "lisi", "议题 park")
    assert top.index("委员 附议 1") < top.index("群众 附议 0")
    assert "没有议题" in await say(stack, "lisi", "议题 nothing")


async def test_staff_turn_an_opinion_into_a_case_and_its_author_is_told(stack: Stack) -> None:
    await open_topic(stack)
    alice = await signed_in(stack, "alice")
    await consent(stack, alice, REPLY_TEMPLATE)
    _, body = await opine(alice, "医院东门的路灯坏了", contact_point="hz-hospital-1")
    answer = await say(stack, "lisi", f"立案 {body['opinion_id']}")
    assert "已立案，编号 MS" in answer
    case = await Case.get(citizen__openid=alice.openid).prefetch_related("contact_point")
    assert case.code in answer
    assert case.contact_point.key == "hz-hospital-1"
    await stack.run_jobs()
    assert any(case.code in text for text in stack.triage_messages())  # the normal triage card
    told = subscribed(stack, alice.openid)
    assert told
    assert case.code in told[-1].payload["data"]["character_string1"]["value"]
    assert told[-1].payload["data"]["thing2"]["value"] == "您的意见已转为诉求办理"
    mine = await alice.request("GET", "/cases")
    assert [c["tracking_code"] for c in mine.body["cases"]] == [case.code]
    assert "已立案" in await say(stack, "lisi", f"立案 {body['opinion_id']}")
    await say(stack, "zhangsan", "议 park 委员意见")
    member_id = (await Opinion.get(member_id__not_isnull=True)).id
    assert "委员的意见" in await say(stack, "lisi", f"立案 {member_id}")
    assert await Job.filter(kind="case.created").count() == 1
    assert (await Opinion.get(id=body["opinion_id"])).status == OpinionStatus.PUBLISHED


async def test_a_topic_gets_a_mini_program_code_with_scene_tp_and_a_poster(stack: Stack, tmp_path) -> None:
    from PIL import Image

    await open_topic(stack)
    code, out = await topic_cli(stack, "code", "park", "--out", str(tmp_path), "--size", "a5")
    assert code == 0, out
    asked = stack.platform.calls_to("/wxa/getwxacodeunlimit")[-1].body
    assert (asked["scene"], asked["page"]) == ("tp=park", "pages/topic/index")
    assert (tmp_path / "park-topic-wxa.jpg").stat().st_size > 0
    poster = Image.open(tmp_path / "park-topic-poster-a5.png")
    assert poster.width > 1000  # an A5 page at print resolution
    assert (await topic_cli(stack, "code", "nothing", "--out", str(tmp_path)))[0] == 1


def test_the_topic_scene_fits_what_wechat_takes() -> None:
    from qr.scenes import SceneError, topic_from_wxa_scene, topic_scene

    assert topic_scene("park") == "tp=park"
    assert topic_from_wxa_scene(topic_scene("a" * 29)) == "a" * 29
    with pytest.raises(SceneError):
        topic_scene("a" * 30)  # tp= and 30 characters: 33, WeChat takes 32
    assert topic_from_wxa_scene("cp=park") is None


async def test_the_mini_program_simulator_plays_a_citizen(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    from dataclasses import replace

    from bot.demo.mini_simulator import MiniSimulator

    await open_topic(stack)
    assert stack.config is not None
    assert stack.session is not None
    assert stack.fake_server is not None
    config = replace(stack.config, server=replace(stack.config.server, public_base_url=stack.url("").rstrip("/")))
    simulator = MiniSimulator(config, stack.session, "alice", str(stack.fake_server.make_url("")).rstrip("/"))
    await simulator.start()
    lines = [
        "/scan hz-hospital-1", "/consent", "医院东门的路灯坏了", "/cases", "/rate {code} 1", "/topic park",
        "/opinion 建议建立体停车楼", "/opinion 诈骗链接", "/me bob", "/topic park", "/support 1", "/support 1",
        "/opinions support", "/nonsense",
    ]  # fmt: skip
    for line in lines:
        assert await simulator.handle(line)
    assert not await simulator.handle("/quit")
    out = capsys.readouterr().out
    code = (await Case.get()).code
    assert f"查询编号：{code}" in out
    assert f"{code}  待分拣" in out
    assert "not_in_return_visit" in out  # not replied yet: the rating is refused, politely
    assert "意见 #1（published）" in out
    assert "content_risky" in out
    assert "附议成功，这条意见已有 1 人附议" in out
    assert "already_supported" in out
    assert "#1 群众用户**" in out
    assert "附议 1" in out
    assert "未知命令 /nonsense" in out
