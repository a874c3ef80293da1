"""The WeCom markdown formatter: escape() leaves a stranger's text readable and unable to form markup."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.texts.markdown import bold, code, escape, font, link, plain, quote

# What WeCom markdown would turn into something other than the characters typed.
LINK = re.compile(r"\[[^\]]*\]\([^)]*\)")
MARKUP = re.compile(r"<\s*@|<\s*/?\s*font|\*\*|`|^\s*#|^\s*>|://|&#?[0-9a-z]+;", re.M | re.I)


def test_the_three_injections_of_the_issue_are_neutralised_and_readable() -> None:
    text = '[点此查看](http://evil.example/steal?id=1) <@all> <font color="warning">紧急</font>'
    escaped = escape(text)
    assert escaped == '［点此查看］（http：//evil.example/steal?id=1） ＜@all＞ ＜font color="warning"＞紧急＜/font＞'
    assert not LINK.search(escaped)
    assert not MARKUP.search(escaped)


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("**加粗** 和 `代码`", "＊＊加粗＊＊ 和 ｀代码｀"),
        ("# 标题\n  ## 二级\n3#楼 502", "＃ 标题\n  ＃# 二级\n3#楼 502"),
        ("> 引用\n正文 a>b", "＞ 引用\n正文 a＞b"),
        ("![图](http://x.example/a.png)", "!［图］（http：//x.example/a.png）"),
        ("&lt;@all&gt; &#60;@all&#62; A&B", "＆lt;@all＆gt; ＆#60;@all＆#62; A&B"),
        ("~~删除~~", "～～删除～～"),
        ("一\r\n二\r三\u2028四", "一\n二\n三\n四"),
        ("上\n\n\n\n\n下", "上\n\n下"),
        ("左\u202e右\x00\x1b尾\t空", "左右尾 空"),
        ("路灯坏了，请尽快修理。", "路灯坏了，请尽快修理。"),
    ],
)
def test_escape(text: str, escaped: str) -> None:
    assert escape(text) == escaped


def test_builders() -> None:
    assert bold("新诉求") == "**新诉求**"
    assert code("派 MS1 张三") == "`派 MS1 张三`"
    assert quote("一\n二") == "> 一\n> 二"
    assert font("warning", "急") == '<font color="warning">急</font>'
    with pytest.raises(ValueError, match="colour"):
        font("red", "急")
    assert link("查看", "https://console.example/cases?code=MS1") == "[查看](https://console.example/cases?code=MS1)"
    assert link("查看", "https://x.example/a b(c)") == "[查看](https://x.example/a%20b%28c%29)"
    with pytest.raises(ValueError, match="http"):
        link("点我", "javascript:alert(1)")


def test_plain_renders_our_markup_as_text_and_leaves_escaped_text_alone() -> None:
    citizen = escape("[点此](http://evil.example) <@all> **粗**")
    message = "\n".join(
        [
            "# 标题",
            bold("新诉求 MS1") + " " + font("warning", "急"),
            quote(f"内容：{citizen}"),
            f"派件请发：{code('派 MS1 张三')}",
            link("查看", "https://console.example/c/MS1"),
            "<@zhangsan> 请处理；命令格式：派 <编号> <委员>",
            "电话 138****5678，身份证 330102********1234，邮箱 a***@example.com，备用 139****4321",
        ]
    )
    assert plain(message) == "\n".join(
        [
            "标题",
            "新诉求 MS1 急",
            f"内容：{citizen}",
            "派件请发：「派 MS1 张三」",
            "查看（https://console.example/c/MS1）",
            "@zhangsan 请处理；命令格式：派 <编号> <委员>",
            "电话 138****5678，身份证 330102********1234，邮箱 a***@example.com，备用 139****4321",
        ]
    )


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("[]()<>*`#>~&;@!:/ \n\r\tazAZ09_-.=\"'汉字\u3000\u2028\u202e"), max_size=80))
def test_escaped_text_forms_no_markup_whatever_it_was(text: str) -> None:
    escaped = escape(text)
    card = "\n".join([bold("新诉求 MS1"), quote(f"内容：{escaped}"), escaped])
    assert not LINK.search(escaped)
    assert not MARKUP.search(escaped)
    assert not re.search(r"[\[\]()<>*`~]", escaped)
    assert escape(escaped) == escaped  # escaping twice changes nothing
    assert plain(escaped) == escaped  # plain() touches only our markup
    assert card.count("**") == 2
    assert "<" not in card
