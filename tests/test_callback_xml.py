"""Callback XML is read the way ElementTree reads it, whether or not the flat fast path takes it."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.transport.official_account import BadCallback, _element_value, _flat_fields, xml_fields

TAGS = st.sampled_from(["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "A_1"])
# Text that includes everything an XML parser treats specially.
PIECES = [*"ab 中文<>&;]\r\n\t\x01\xa0\x85\u3000\x0b", "]]>", "&amp;", "&lt;"]
TEXT = st.lists(st.sampled_from(PIECES), max_size=8).map("".join)


@st.composite
def element(draw: st.DrawFn) -> str:
    tag = draw(TAGS)
    text = draw(TEXT)
    form = draw(st.sampled_from(["cdata", "plain", "empty", "nested", "mismatched"]))
    if form == "cdata":
        body = f"<![CDATA[{text}]]>"
    elif form == "plain":
        body = text
    elif form == "empty":
        body = ""
    elif form == "nested":
        body = f"<Inner>{text}</Inner>"
    else:
        return f"<{tag}>{text}</Other>"
    return f"<{tag}>{body}</{tag}>"


@st.composite
def document(draw: st.DrawFn) -> str:
    parts = draw(st.lists(element(), max_size=6))
    # XML white space between elements, and characters that look like white space to Python but not to XML.
    gaps = [draw(st.sampled_from(["", "\n", "  ", "\r\n\t", "\xa0", "\u3000", "\x85", "\x0c"])) for _ in parts]
    inner = "".join(gap + part for gap, part in zip(gaps, parts, strict=True))
    closing = draw(st.sampled_from(["</xml>", "</xml>\n", "", "</xml><xml>", "</xml>\xa0"]))
    opening = draw(st.sampled_from(["<xml>", "\n<xml>", "\u3000<xml>"]))
    return f"{opening}{inner}{closing}"


def element_tree_fields(xml: str) -> dict[str, object] | None:
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return None
    return {child.tag: _element_value(child) for child in root}


@settings(max_examples=400, deadline=None)
@given(document())
def test_the_fast_path_reads_exactly_what_element_tree_reads(xml: str) -> None:
    fast = _flat_fields(xml)
    expected = element_tree_fields(xml)
    if fast is not None:
        assert expected is not None, f"accepted a document ElementTree refuses: {xml!r}"
        assert fast == expected
    if expected is None:
        with pytest.raises(BadCallback):
            xml_fields(xml)
    else:
        assert xml_fields(xml) == expected


def test_a_wechat_text_push_takes_the_fast_path() -> None:
    xml = (
        "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o-1]]></FromUserName>"
        "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        "<Content><![CDATA[路灯 <坏了> & 没人修]]></Content><MsgId>42</MsgId></xml>"
    )
    assert _flat_fields(xml) == element_tree_fields(xml)
    assert _flat_fields(xml) is not None
