"""What staff read: the triage group's cards and notices, and the answers to their commands.

Cards and notices to the triage group are WeCom markdown built with handlers.texts.markdown; every
argument a stranger (or the roster) wrote goes through `escape` here, so no citizen can form a link,
a mention or a tag in the staff group. Answers to commands are lines that may carry the same markers.
"""

from __future__ import annotations

from handlers.cases.masking import excerpt
from handlers.texts.citizen import SATISFACTION_ZH
from handlers.texts.markdown import bold, escape, font, link, quote

# verb, English alias, usage, effect: the help table (docs/commands.md is checked against it)
COMMANDS: list[tuple[str, str, str, str]] = [
    ("派", "assign", "派 <编号> <委员>", "交办给委员（姓名或花名册代号）"),
    ("转", "transfer", "转 <编号> <部门> [说明]", "转交承办部门"),
    ("答", "reply", "答 <编号> <答复内容>", "代部门或政协答复群众"),
    ("并", "merge", "并 <编号> <目标编号>", "并案：群众也会收到目标件的答复"),
    ("退", "reject", "退 <编号> <理由>", "不予受理，告知群众理由"),
    ("类", "category", "类 <编号> <类别>", "设置类别"),
    ("急", "urgent", "急 <编号>", "标为急件（期限缩短，排在前面）"),
    ("查", "show", "查 <编号>", "查看办理过程"),
    ("类似", "similar", "类似 <编号>", "文字与这件最相似的件（含 12345 热线件）：编号、相似度、区县、摘要"),
    (
        "线索",
        "lead",
        "线索 <编号> [<编号>...] <专题名>",
        "把件列为专题的线索（扫码件、12345 热线件都可以，热线件也可写工单号）；专题不存在时新建",
    ),
    ("专题", "topic", "专题 [专题名] [移除 <编号>]", "列出各专题及件数；写专题名时查看该专题；「移除」把一件移出专题"),
    ("报告", "report", "报告 <专题名>", "生成该专题的社情民意信息草稿（Word 文件），发到分拣群"),
    ("待办", "queue", "待办", "待分拣、超期、二次不满意和待电话回访的件"),
    ("电话", "phone", "电话 <编号>", "群众留下的电话号码（不打码，记入时间线），用于电话回访"),
    ("回访", "visit", "回访 <编号> <1|2|3> [备注]", "记录电话回访：1 满意，2 基本满意，3 不满意"),
    ("统计", "stats", "统计 [委员|热点]", "今日、本周、本月的交办、答复、回访和满意率；「统计 热点」：最近 7 天的热点"),
    ("议题", "topics", "议题 [代号]", "征集中的议题和意见数；写代号时列出附议最多的意见"),
    ("通过", "approve", "通过 <意见编号>", "发布待审核的议题意见"),
    ("不通过", "disapprove", "不通过 <意见编号>", "不发布待审核的议题意见"),
    ("立案", "file", "立案 <意见编号>", "把议题意见转为诉求：生成编号、正常办理，并告知提出人"),
    ("帮助", "help", "帮助", "显示本表"),
]
VERBS = {word: verb for verb, alias, _, _ in COMMANDS for word in (verb, alias)}
VIA_CONSOLE = "（控制台）"  # a command given on the web console, on the timeline
READ_ONLY_VERBS = frozenset({"查", "类似", "待办", "统计", "帮助"})  # what a viewer (role viewer) may say


def viewer_refused(verb: str) -> str:
    return f"您的账号是只读账号，可以用「查」「待办」「统计」「类似」查看，不能「{verb}」。"


STAGE_ZH = {"assign": "交办", "reply": "答复"}
STAFF_SIGNATURE = "政协码上商工作人员"  # how a reply staff enter is signed for the citizen


def help_text() -> str:
    rows = [f"{usage}（{alias}）：{effect}" for _, alias, usage, effect in COMMANDS]
    return "码上商分拣命令：\n" + "\n".join(rows)


def usage(verb: str) -> str:
    return next(u for v, _, u, _ in COMMANDS if v == verb)


def member_command(verb: str) -> str:
    return f"「{verb}」是委员办件的命令，工作人员请用以下命令。\n{help_text()}"


def not_understood(text: str) -> str:
    return f"没有听懂「{excerpt(escape(text), 30)}」。\n{help_text()}"  # the bot's answer is markdown


def holder_name(member_name: str | None) -> str:
    return f"委员{escape(member_name)}" if member_name else "工作人员"


# ---- cards and notices to the triage group (markdown) ------------------------------------------------


def case_card(
    code: str,
    urgent: bool,
    where: str,
    category: str | None,
    content: str,
    earlier_code: str | None,
    due: str,
    suggested: tuple[str, int] | None,
    listen: str | None = None,
) -> str:
    """A new case. `suggested`: (member name, open cases); `content`: the citizen's words, masked and
    escaped already (handlers.cases.actions.first_content: escaping after masking would undo the masks);
    `listen`: our link that plays the citizen's voice."""
    lines = [
        bold(f"新诉求 {code}") + (" " + font("warning", "急") if urgent else ""),
        quote(f"联系点：{escape(where)}"),
        quote(f"建议类别：{escape(category) if category else '未识别'}"),
        quote(f"内容：{content}"),
        *([quote(f"收听：{link('点此收听语音', listen)}")] if listen else []),
        *([quote(f"关联已办结件：{earlier_code}")] if earlier_code else []),
        quote(f"交办期限：{due}"),
    ]
    if suggested is not None:
        name, load = escape(suggested[0]), suggested[1]
        lines.append(f"建议委员：{name}（在办 {load} 件）")
        lines.append(f"派件请发：`派 {code} {name}`")
    else:
        lines.append(f"派件请发：`派 {code} 委员姓名`；转部门：`转 {code} 部门`")
    return "\n".join(lines)


MEDIA_GONE_TITLE = "链接已失效"
MEDIA_GONE = "此链接无效或已过期。请在分拣群发送「查 编号」查看这件诉求的办理过程。"
MEDIA_FILE_MISSING = "这段语音的文件已不在服务器上（可能已按保留期限清理）。"
MEDIA_NOT_YET_TITLE = "语音还在保存"
MEDIA_NOT_YET = "这段语音正在从微信取回，请稍后再打开此链接；微信只保留 3 天，若一直打不开，可能已无法取回。"


def unrecognised_voice(duration_s: float | None) -> str:
    """A voice WeChat sent without recognised text (the `Recognition` field is being withdrawn)."""
    if duration_s:
        return f"语音 {max(1, round(duration_s))} 秒，未识别文字"
    return "语音，未识别文字"


def reminder(code: str, stage: str, due: str, summary: str) -> str:
    action = f"派件：`派 {code} 委员姓名`" if stage == "assign" else f"部门答复后录入：`答 {code} 内容`"
    head = f"{bold(f'【催办】{code}')} {STAGE_ZH[stage]}期限 {due} 将到"
    return f"{head}\n{quote(excerpt(escape(summary), 60))}\n{action}"


def overdue(code: str, stage: str, due: str, round_no: int, holder: str, summary: str) -> str:
    headline = f"**【超期】{code}** 已超过{STAGE_ZH[stage]}期限 {due}"
    if round_no > 1:
        headline = f"**【督办·第{round_no}次超期】{code}** 仍未{STAGE_ZH[stage]}（期限 {due}）"
    return f"{headline}\n{quote(f'承办：{holder}')}\n{quote(excerpt(escape(summary), 60))}"


def escalation(code: str, stage: str, round_no: int, holder: str) -> str:
    """To each admin, from the second overdue round on (plain text)."""
    return f"【督办】编号 {code} 第{round_no}次超期（{STAGE_ZH[stage]}），承办：{holder}。"


def phone_visit_task(code: str, masked_phone: str | None = None, undelivered: bool = False) -> str:
    phone = f"（群众留有手机号 {masked_phone}）" if masked_phone else ""
    why = "回访问卷未能送达群众（微信未投递）" if undelivered else "群众未答复回访问卷"
    return (
        f"**【电话回访】{code}** {why}{phone}，发送 `电话 {code}` 查看号码，电话回访后发送："
        f"`回访 {code} 1|2|3 备注`（1 满意，2 基本满意，3 不满意）"
    )


def reopened(code: str, comment: str, holder: str, due: str, second_time: bool) -> str:
    said = f"：{excerpt(escape(comment), 200)}" if comment else ""
    head = bold("【二次不满意】" if second_time else "【重办】")
    return f"{head} {code} 群众不满意{said}\n> 承办：{holder}；重新答复期限 {due}"


def replied(code: str, by_name: str, text: str) -> str:
    return f"{bold(f'{code} 已答复')}（{escape(by_name)}）\n{quote(excerpt(escape(text), 120))}"


def returned_by_member(code: str, member_name: str, reason: str) -> str:
    return (
        f"{bold(f'{code} 被退回分拣')}\n{quote(f'委员：{escape(member_name)}')}\n"
        f"{quote(f'原因：{excerpt(escape(reason), 120)}')}\n"
        f"请重新派件：`派 {code} 委员姓名`"
    )


def bind_lockout(openid: str | None, failures: int, window: str, until: str) -> str:
    """Binding codes were guessed wrong too often: from one openid, or (None) from everybody together."""
    if openid is None:
        return (
            '**绑定码多次输错** <font color="warning">全部暂停</font>\n'
            f"> {window}内各公众号用户共输错 {failures} 次，可能有人在猜测绑定码。\n"
            f"> 委员绑定公众号已全部暂停至 {until}。"
        )
    return (
        f"**绑定码多次输错**\n> 公众号用户 {openid} {window}内输错 {failures} 次，其绑定已暂停至 {until}。\n"
        "> 如不是委员本人，可能有人在猜测绑定码。"
    )


def member_bound(member_name: str, member_key: str, openid: str, at: str) -> str:
    return (
        f"**委员绑定公众号**\n> 委员{member_name}（{member_key}）{at} 绑定了公众号用户 {openid}，"
        "交办给该委员的件今后发到这个公众号用户。\n> 如不是委员本人绑定，请立即联系管理员解除绑定。"
    )


def unreachable(name: str, key: str, userid: str, code: str | None, *, member: bool) -> str:
    """WeCom refused a message to `userid` with 81013: outside the app's visible range (可见范围)."""
    who = f"委员{escape(name)}" if member else f"工作人员{escape(name)}"
    about = f"案件 {code} 的消息" if code else "一条消息"
    then = f"可改派其他委员：`派 {code} 委员姓名`，或转办：`转 {code} 部门`。" if code and member else ""
    return (
        f"{bold('【消息未送达】' + (code or ''))} {who}（{escape(key)}，企业微信账号 {escape(userid)}）"
        f"不在企业微信应用的可见范围内，收不到{about}。\n"
        f"> 请电话联系，并请管理员在企业微信管理后台「应用管理 → 本应用 → 可见范围」中加入此人，"
        f"之后运行 `mashang jobs retry --all-dead` 补发。{then}"
    )


# ---- configuration errors (bot/outbound/alerts.py): one alert per cause and day --------------------------

PLATFORM_ZH = {"wechat": "公众号", "miniprogram": "小程序", "wecom": "企业微信应用", "webhook": "分拣群机器人"}
# What an administrator does, by (platform, errcode); bot/outbound/retry.py names each code's source.
CONFIG_FIXES: dict[tuple[str, int], str] = {
    ("wechat", 40164): "本服务器的出口 IP 不在白名单中：在公众号后台「设置与开发 → 基本配置 → IP白名单」中加入它",
    ("wechat", 40125): "AppSecret 不对：核对配置 wechat.app_secret 与公众号后台「基本配置」中的 AppSecret"
    "（重置过要更新）",
    ("wechat", 40013): "AppID 不对：核对配置 wechat.app_id 与公众号后台「基本配置」中的开发者ID",
    ("wechat", 48001): "公众号没有这个接口的权限（订阅号没有模板消息和订阅通知）：认证为服务号、开通该功能，"
    '或设置 wechat.out_of_window = "none"',
    ("wechat", 40037): "模板 ID 不存在：核对 [wechat.templates.reply]、[wechat.templates.visit] 的 id "
    "与公众号后台「模板消息 → 我的模板」一致",
    ("wechat", 47003): "模板参数与模板不符：核对 [wechat.templates.*] 的 fields 中的关键词（如 thing2、"
    "character_string1）与公众号后台该模板的详情一致",
    ("miniprogram", 40164): "本服务器的出口 IP 不在白名单中：在小程序后台「开发管理 → 开发设置 → IP白名单」中加入它",
    ("miniprogram", 40125): "AppSecret 不对：核对配置 miniprogram.app_secret 与小程序后台「开发设置」中的 AppSecret",
    ("miniprogram", 40013): "AppID 不对：核对配置 miniprogram.app_id",
    ("miniprogram", 48001): "小程序没有这个接口的权限：在小程序后台开通订阅消息",
    ("miniprogram", 40037): "订阅消息模板 ID 不存在：核对 miniprogram.reply_template_id、visit_template_id "
    "与小程序后台「订阅消息 → 我的模板」一致",
    ("miniprogram", 47003): "订阅消息参数与模板不符：核对 miniprogram.reply_template_keys、visit_template_keys "
    "与小程序后台该模板的关键词一致",
    ("wecom", 60020): "本服务器的出口 IP 不是企业可信IP：在企业微信管理后台「应用管理 → 本应用 → 企业可信IP」中加入它",
    ("wecom", 40001): "应用 Secret 不对：核对配置 wecom.secret 与企业微信管理后台「应用管理 → 本应用」的 Secret",
    ("wecom", 40013): "企业ID 不对：核对配置 wecom.corp_id 与企业微信管理后台「我的企业」中的企业ID",
    ("wecom", 40056): "应用 AgentId 不对：核对配置 wecom.agent_id 与企业微信管理后台「应用管理 → 本应用」的 AgentId",
    ("wecom", 48001): "应用没有这个接口的权限：在企业微信管理后台检查本应用的权限"
    "（群聊 appchat 要求应用可见范围为根部门）",
    ("wecom", 86003): "分拣群聊不存在：wecom.triage_chat_id 须是本应用用 appchat/create 建的群的 chatid",
    ("wecom", 60011): "应用的可见范围不够：在企业微信管理后台「应用管理 → 本应用 → 可见范围」中加入相关成员"
    "（群聊 appchat 要求可见范围为根部门）",
    ("webhook", 93000): "群机器人的 webhook key 无效，或机器人已被移出分拣群：在分拣群重新添加机器人，"
    "把新地址中的 key 填入配置 wecom.triage_webhook_key",
}


def config_alert(platform: str, errcode: int, errmsg: str, retry_minutes: int, ceiling_hours: int) -> str:
    """A setting an administrator must fix refuses messages; they wait meanwhile."""
    where = PLATFORM_ZH.get(platform, platform)
    fix = CONFIG_FIXES.get((platform, errcode), "请管理员按微信的错误码说明检查配置")
    return (
        f"{bold(f'【配置错误】{where} 错误码 {errcode}')}\n"
        f"{quote(excerpt(escape(errmsg), 120))}\n"
        f"需要处理：{fix}。\n"
        f"期间的消息不会丢失：每 {retry_minutes} 分钟重试一次，修复后自动发出。"
        f"若 {ceiling_hours} 小时内未修复，这些消息标为「已放弃」，修复后运行 `mashang jobs retry --all-dead` 重新发送"
        "（`mashang jobs list` 查看待发的消息）。"
    )


def quota_alert(platform: str, errmsg: str) -> str:
    """Today's API quota (45009) is used up: messages wait for the next day."""
    where = PLATFORM_ZH.get(platform, platform)
    return (
        f"{bold(f'【接口额度用完】{where} 错误码 45009')}\n"
        f"{quote(excerpt(escape(errmsg), 120))}\n"
        "今天的接口调用次数已用完，未发出的消息明天零点后自动发送，不会丢失。"
        "如急需，可在公众号后台「设置与开发 → 接口权限」查看额度，或用 clear_quota 接口清零（每月有次数限制）。"
    )


# ---- answers to staff commands ----------------------------------------------------------------------


def assigned(code: str, member_name: str, due: str, reached: bool) -> str:
    note = "" if reached else f"（注意：委员{member_name}尚未绑定企业微信或公众号，请电话通知）"
    return f"已将 {code} 交办给委员{member_name}，答复期限 {due}。{note}"


def transferred(code: str, department_name: str) -> str:
    return f"已将 {code} 转交{department_name}。部门答复后，请用「答 {code} 答复内容」录入，系统会转告群众。"


def reply_queued(code: str, merged_count: int) -> str:
    extra = f"，并转告了合并的 {merged_count} 件" if merged_count else ""
    # Queued, not yet delivered: the outbox sends it (and keeps trying while WeChat is down).
    return f"已答复 {code}，答复已排入发送队列，将发给群众{extra}。"


def merged(code: str, target_code: str) -> str:
    return f"已将 {code} 并入 {target_code}，其群众会收到 {target_code} 的答复。"


def rejected(code: str) -> str:
    return f"已对 {code} 不予受理，已告知群众原因。"


def category_set(code: str, category_name: str) -> str:
    return f"已将 {code} 的类别设为「{category_name}」。"


def already_urgent(code: str) -> str:
    return f"{code} 已是急件。"


def made_urgent(code: str, due: str | None) -> str:
    return f"已将 {code} 标为急件，期限提前到 {due}。" if due else f"已将 {code} 标为急件。"


def visit_recorded(code: str, score: int) -> str:
    outcome = "已办结。" if score in (1, 2) else "已重新交办，承办人会收到群众意见。"
    return f"已记录 {code} 的电话回访：{SATISFACTION_ZH[score]}，{outcome}"


def visit_usage(code: str) -> str:
    return f"格式：回访 {code} 1|2|3 备注（1 满意，2 基本满意，3 不满意）"


# ---- 待办 ---------------------------------------------------------------------------------------------


def queue_head(waiting: int, overdue_assign: int, overdue_reply: int) -> str:
    return f"**待办**：待分拣 {waiting} 件（其中已超期 {overdue_assign} 件），答复超期 {overdue_reply} 件"


def queue_case(code: str, urgent: bool, late: bool, where: str, summary: str, due: str) -> str:
    marks = ("【急】" if urgent else "") + ("【超期】" if late else "")
    return f"{marks}{code} {escape(where)} {excerpt(escape(summary), 24)}（交办期限 {due}）"


def queue_more(count: int) -> str:
    return f"……另有 {count} 件待分拣未列出（以上按交办期限先后，急件在前）"


def queue_reply_overdue(code: str, member_name: str | None, due: str) -> str:
    holder = f"委员{escape(member_name)}" if member_name else "承办部门"
    return f"【答复超期】{code} {holder}（期限 {due}）"


def queue_escalated(code: str, reopen_count: int, member_name: str | None, due: str) -> str:
    holder = f"委员{escape(member_name)}" if member_name else "承办部门"
    return f"【二次不满意】{code} 群众第{reopen_count}次不满意，{holder}重新答复（期限 {due}）"


def queue_phone_visit(code: str) -> str:
    return f"【电话回访】{code}：群众未答复回访，发送「电话 {code}」查看号码，电话回访后发送「回访 {code} 1|2|3 备注」"


PHONE_SOURCE_ZH = {"message": "群众留言里写的", "miniprogram": "小程序授权的手机号", "hotline": "12345 热线来电号码"}


def citizen_phones(code: str, phones: list[tuple[str, str]]) -> str:
    """The numbers the citizen gave, whole (电话 <编号>; the asking is on the case's timeline)."""
    if not phones:
        return f"{code} 群众没有留下电话号码（留言、小程序授权、12345 热线工单里都没有）。"
    lines = [f"{code} 群众留下的电话（仅供回访，请勿外传；本次查看已记入时间线）："]
    lines += [f"{number}（{PHONE_SOURCE_ZH.get(source, source)}）" for number, source in phones]
    return "\n".join(lines)


QUEUE_EMPTY = "暂无待办，辛苦了！"


# ---- 查: the timeline ---------------------------------------------------------------------------------

EVENT_ZH = {
    "created": "提交",
    "message.in": "留言",
    "message.out": "发送消息",
    "media.saved": "保存附件",
    "category.suggested": "建议类别",
    "category.set": "设置类别",
    "urgent": "标为急件",
    "command": "命令",
    "merge.received": "同类件并入本件：",
    "reply.via_merge": "随并案答复",
    "sla.reminder": "催办",
    "sla.overdue": "超期通报",
    "visit.phone_task": "转电话回访",
    "message.undelivered": "模板消息未送达群众（微信告知）",
    "message.waiting": "消息未推送（超出客服消息时限），待群众下次留言时送达",
    "message.unreachable": "消息未能送达（对方不在企业微信应用的可见范围内）",
    "follows": "关联已办结件",
    "hotline.updated": "热线工单更新",
    "lead.marked": "列为专题线索",
    "lead.removed": "移出专题",
}
CHANNEL_ZH = {
    "custom": "客服消息",
    "maybe": "客服消息，微信两次超时未答，可能已送达",
    "template": "模板消息",
    "notice": "订阅通知",
    "waiting": "未推送，待群众下次留言时送达",
    "passive": "即时回复",
    "triage_webhook": "分拣群",
    "triage_appchat": "分拣群",
    "wecom_text": "企业微信",
    "wecom_markdown": "企业微信",
    "bot_response": "群机器人回复",
}
ACTOR_ZH = {"system": "系统", "citizen": "群众", "member": "委员", "hotline": "12345 热线"}


def staff_name(name: str) -> str:
    return f"工作人员{escape(name)}"


def member_name(name: str) -> str:
    return f"委员{escape(name)}"


def timeline_head(code: str, where: str, state: str, member: str | None, content: str) -> list[str]:
    head = f"{bold(code)} {escape(where)}，状态：{state}" + (f"，委员：{escape(member)}" if member else "")
    return [head, f"内容：{content}"]  # masked and escaped by first_content


# ---- 统计 ---------------------------------------------------------------------------------------------


def percent(part: int, whole: int) -> str:
    return f"{part * 100 / whole:.0f}%" if whole else "—"


def figures_line(label: str, new: int, on_time_triage: str, on_time_reply: str, visit_rate: str, satisfied: str) -> str:
    return (
        f"{label}：新增 {new} 件；按时交办 {on_time_triage}；按时答复 {on_time_reply}；"
        f"回访率 {visit_rate}；满意率 {satisfied}"
    )


def stats_title(member: str | None) -> str:
    return bold(f"统计（委员{escape(member)}）") if member else bold("码上商统计")


def stats_overdue(count: int) -> str:
    return f"当前超期：{count} 件"


PERIODS_ZH = ("今日", "本周", "本月")
NO_POINT_ZH = "未经联系点（直接留言）"
HOTLINE_ZH = "12345 热线"
STATS_PER_POINT = "本月各联系点："
STATS_BY_MEMBER = "按委员查看：`统计 委员姓名`"


def stats_point(name: str, count: int, on_time_reply: str, satisfied: str) -> str:
    return f"· {escape(name)}：{count} 件，按时答复 {on_time_reply}，满意率 {satisfied}"


# ---- 码上商量: consultation topics and their opinions ------------------------------------------------

OPINION_BY_MEMBER = "这是委员的意见，不能立案；请委员直接反映。"
NO_OPEN_TOPICS = "目前没有征集中的议题。"


def opinion_to_review(opinion_id: int, topic_key: str, text: str) -> str:
    """Markdown for the triage group: WeChat's check wants a person to look (text masked by the caller)."""
    return "\n".join(
        [
            bold(f"待审核意见 #{opinion_id}"),
            quote(f"议题：{escape(topic_key)}"),
            quote(f"内容：{escape(text)}"),
            quote(f"发布：通过 {opinion_id}；不发布：不通过 {opinion_id}"),
        ]
    )


def topic_not_found(key: str) -> str:
    return f"没有议题 {excerpt(escape(key), 30)}。"


def opinion_not_found(opinion_id: str) -> str:
    return f"没有意见 {excerpt(escape(opinion_id), 20)}。"


def opinion_not_waiting(opinion_id: int) -> str:
    return f"意见 #{opinion_id} 不在待审核中。"


def opinion_approved(opinion_id: int, topic_key: str) -> str:
    return f"意见 #{opinion_id} 已通过，发布在议题 {escape(topic_key)}。"


def opinion_rejected(opinion_id: int) -> str:
    return f"意见 #{opinion_id} 未通过，不会发布。"


def opinion_has_case(opinion_id: int, code: str) -> str:
    return f"意见 #{opinion_id} 已立案：{code}。"


def opinion_case_made(opinion_id: int, code: str) -> str:
    return f"意见 #{opinion_id} 已立案，编号 {code}，已告知提出人。"


def open_topics(rows: list[tuple[str, str, int, int]]) -> str:
    """(key, title, published, waiting) of each open topic."""
    if not rows:
        return NO_OPEN_TOPICS
    lines = ["征集中的议题："]
    lines += [f"{escape(k)}「{escape(t)}」 已发布 {p} 条，待审核 {w} 条" for k, t, p, w in rows]
    lines.append("「议题 <代号>」看附议最多的意见")
    return "\n".join(lines)


def top_opinions(key: str, rows: list[tuple[int, int, str, str]]) -> str:
    """(id, supports, author label, excerpt) of a topic's most supported opinions."""
    if not rows:
        return f"议题 {escape(key)} 还没有发布的意见。"
    lines = [f"议题 {escape(key)} 附议最多的意见："]
    lines += [f"#{i} {label} 附议 {n}：{escape(text)}" for i, n, label, text in rows]
    lines.append("「立案 <意见编号>」转为诉求办理")
    return "\n".join(lines)


# ---- 线索, 专题, 报告: leads and topics (handlers/reports/leads.py) -----------------------------------

TOPICS_LISTED = 30  # topics `专题` lists
CODES_SHOWN = 30  # codes `专题 <名>` lists


def topic_name_too_long(limit: int) -> str:
    return f"专题名最长 {limit} 个字，请写短一些（专题名即报告的标题）。"


def topic_name_missing() -> str:
    return "请在编号后写上专题名：「线索 <编号> [<编号>...] <专题名>」，例如「线索 MS2611230042 学校周边停车难」。"


def too_many_codes(limit: int) -> str:
    return f"一次最多列 {limit} 件，请分几次发。"


def no_such_lead(token: str) -> str:
    return f"没有编号或 12345 热线工单号为「{escape(token)}」的件。"


def no_such_topic(name: str, known: list[str]) -> str:
    listed = "、".join(escape(topic) for topic in known[:10])
    hint = f"现有专题：{listed}。" if known else "现在还没有专题，用「线索 <编号> <专题名>」新建。"
    return f"没有名为「{escape(name)}」的专题。{hint}"


def not_a_lead(code: str, topic: str) -> str:
    return f"{code} 不在专题「{escape(topic)}」中。"


def leads_marked(topic: str, created: bool, added: list[str], already: list[str], total: int) -> str:
    lines = [f"已新建专题「{escape(topic)}」。" if created else f"专题「{escape(topic)}」："]
    if added:
        lines.append(f"列为线索 {len(added)} 件：{'、'.join(added)}")
    if already:
        lines.append(f"已在专题中 {len(already)} 件：{'、'.join(already)}")
    lines.append(f"专题现有 {total} 件。查看：`专题 {escape(topic)}`；生成报告：`报告 {escape(topic)}`")
    return "\n".join(lines)


def lead_removed(code: str, topic: str, left: int) -> str:
    return f"已将 {code} 移出专题「{escape(topic)}」，专题还有 {left} 件。"


def topics_list(topics: list[tuple[str, int, int]]) -> str:
    """`专题`: (name, cases, of which from the hotline) per topic, newest first."""
    if not topics:
        return "还没有专题。把件列为线索即新建专题：`线索 <编号> [<编号>...] <专题名>`"
    lines = [bold(f"专题（{len(topics)} 个）")]
    for number, (name, cases, hotline) in enumerate(topics[:TOPICS_LISTED], start=1):
        lines.append(f"{number}. {escape(name)}：{cases} 件（12345 热线 {hotline} 件）")
    if len(topics) > TOPICS_LISTED:
        lines.append(f"……另有 {len(topics) - TOPICS_LISTED} 个专题未列出")
    lines.append("查看一个专题：`专题 <专题名>`")
    return "\n".join(lines)


def week_label(monday: str, count: int) -> str:
    return f"{monday}起 {count} 件"


def topic_detail(
    name: str,
    total: int,
    hotline: int,
    weeks: list[str],
    districts: list[str],
    points: list[str],
    codes: list[str],
) -> str:
    """`专题 <名>`: the cases (code, and the hotline's number), districts and weeks. Districts and contact
    points come from hotline files and the roster: escaped here."""
    lines = [bold(f"专题「{escape(name)}」：{total} 件（12345 热线 {hotline} 件）")]
    if not total:
        lines.append("专题中已没有件。列入：`线索 <编号> " + escape(name) + "`")
        return "\n".join(lines)
    lines.append(f"各周：{'；'.join(weeks)}")
    lines.append(f"区县：{'、'.join(escape(d) for d in districts)}")
    if points:
        lines.append(f"联系点：{'、'.join(escape(p) for p in points)}")
    shown = codes[:CODES_SHOWN]
    more = f" 等 {len(codes)} 件" if len(codes) > len(shown) else ""
    lines.append(f"编号：{'、'.join(escape(code) for code in shown)}{more}")
    lines.append(f"移出一件：`专题 {escape(name)} 移除 <编号>`；生成报告：`报告 {escape(name)}`")
    return "\n".join(lines)


def report_queued(topic: str, to_group: bool) -> str:
    where = "分拣群" if to_group else "您的企业微信（分拣群未接入应用群聊，文件发给本人）"
    return f"正在生成专题「{escape(topic)}」的社情民意信息草稿，稍后以 Word 文件发到{where}。"


def topic_empty(topic: str) -> str:
    return f"专题「{escape(topic)}」中没有件，无法生成报告。先用「线索 <编号> {escape(topic)}」列入。"


def topic_usage() -> str:
    return "格式：专题（列出各专题）；专题 <专题名>（查看）；专题 <专题名> 移除 <编号>"
