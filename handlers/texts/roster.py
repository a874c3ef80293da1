"""What the operator reads when `mashang roster import` refuses a file (the CLI prints it)."""

from __future__ import annotations


def userid_case_clash(userid: str, other: str, other_key: str, where: str) -> str:
    """Two WeCom userids that differ only in case: one WeCom account named twice."""
    return (
        f"企业微信 userid {userid!r} 与{where}（key {other_key!r}）的 {other!r} 只有大小写不同："
        "企业微信的 userid 不区分大小写，这是同一个账号，请只保留一条"
    )


def in_this_file(index: int, section: str) -> str:
    return f"本文件第 {index} 个 [[{section}]]"


def already_stored(section: str) -> str:
    return f"数据库中已有的 [[{section}]]"
