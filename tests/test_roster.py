from pathlib import Path

import pytest

from handlers.admin.roster import RosterError, import_roster
from models.entities import ContactPoint, Member, Staff

ROSTER = Path(__file__).resolve().parent.parent / "roster.example.toml"


async def test_import_twice_changes_nothing_the_second_time(db: None) -> None:
    first = await import_roster(ROSTER)
    assert first.changed
    assert first.created["contact_points"] == 4
    second = await import_roster(ROSTER)
    assert not second.changed
    assert second.unchanged["members"] == 3
    point = await ContactPoint.get(key="hz-hospital-1")
    assert point.name == "湖州市中心医院"
    assert point.member_keys == ["m-zhang"]
    assert (point.latitude, point.longitude) == (30.8742, 120.0935)
    studio = await ContactPoint.get(key="hz-studio-zhang")
    assert (studio.latitude, studio.longitude) == (None, None)  # no coordinates: not on the map
    assert (await Member.get(key="m-zhao")).wecom_userid is None
    assert (await Staff.get(key="s-li")).role == "triage"


async def test_edits_are_updated_in_place(db: None, tmp_path: Path) -> None:
    await import_roster(ROSTER)
    edited = tmp_path / "roster.toml"
    edited.write_text(ROSTER.read_text(encoding="utf-8").replace("湖州中学", "湖州中学（南校区）"), encoding="utf-8")
    report = await import_roster(edited)
    assert report.updated["contact_points"] == 1
    assert report.created["contact_points"] == 0
    assert (await ContactPoint.get(key="hz-school-1")).name == "湖州中学（南校区）"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[[members]]\nkey = "m-a"\n', "[[members]] 第 1 项（key 'm-a'）：字段 name 缺失"),
        ('[[members]]\nkey = "M A"\nname = "x"\n', "[[members]] 第 1 项（key 'M A'）：字段 key 应为 1 至 40 个"),
        (  # counted from 1: the second [[members]] table in the file
            '[[members]]\nkey = "m-a"\nname = "x"\n[[members]]\nkey = "m-b"\n',
            "[[members]] 第 2 项（key 'm-b'）：字段 name 缺失",
        ),
        (
            '[[contact_points]]\nkey = "cp"\nname = "x"\nkind = "mall"\n',
            "[[contact_points]] 第 1 项（key 'cp'）：字段 kind 应是",
        ),
        (
            '[[contact_points]]\nkey = "cp"\nname = "x"\nmembers = ["m-ghost"]\n',
            "里的委员 'm-ghost' 不在花名册里",
        ),
        (
            '[[contact_points]]\nkey = "cp"\nname = "x"\nlatitude = 30.1\n',
            "[[contact_points]] 第 1 项（key 'cp'）：字段 longitude 缺失（纬度 latitude 和经度 longitude 要一起给）",
        ),
        (
            '[[contact_points]]\nkey = "cp"\nname = "x"\nlatitude = 95\nlongitude = 120\n',
            "字段 latitude 应是 -90 到 90 之间的度数",
        ),
        (
            '[[contact_points]]\nkey = "cp"\nname = "x"\nlatitude = 30\nlongitude = "120"\n',
            "字段 longitude 应是 -180 到 180 之间的度数",
        ),
        ('[[staff]]\nkey = "s"\nname = "x"\n', "[[staff]] 第 1 项（key 's'）：字段 wecom_userid 缺失"),
        ('[[members]]\nkey = "m"\nname = "x"\nphone = 1\n', "字段 phone 不是已知的字段"),
        ("[[shops]]\nkey = 'x'\n", "未知的段 [[shops]]"),
        ("not toml = = ", "不是合法的 TOML"),
    ],
)
async def test_a_bad_entry_names_the_file_entry_and_field_and_writes_nothing(
    db: None, tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RosterError) as info:
        await import_roster(path)
    assert str(info.value).startswith(str(path))
    assert expected in str(info.value)
    assert await Member.all().count() == 0
    assert await ContactPoint.all().count() == 0


def _with_userid(base: str, member_key: str, userid: str) -> str:
    """The example roster with one more member whose WeCom userid is `userid`."""
    return base + f'\n[[members]]\nkey = "{member_key}"\nname = "新委员"\nwecom_userid = "{userid}"\n'


async def test_two_userids_that_differ_only_in_case_are_refused(db: None, tmp_path: Path) -> None:
    # WeCom ignores case in userids: `ZhangSan` and `zhangsan` are one account.
    path = tmp_path / "roster.toml"
    path.write_text(_with_userid(ROSTER.read_text(encoding="utf-8"), "m-zhang2", "ZhangSan"), encoding="utf-8")
    with pytest.raises(RosterError) as info:
        await import_roster(path)
    message = str(info.value)
    assert "[[members]] 第 4 项（key 'm-zhang2'）" in message
    assert "'ZhangSan' 与本文件第 1 个 [[members]]（key 'm-zhang'）的 'zhangsan' 只有大小写不同" in message
    assert "不区分大小写" in message
    assert await Member.all().count() == 0


async def test_a_userid_differing_only_in_case_from_a_stored_one_is_refused(db: None, tmp_path: Path) -> None:
    await import_roster(ROSTER)
    path = tmp_path / "roster.toml"
    path.write_text(_with_userid("", "m-new", "WangWu"), encoding="utf-8")
    with pytest.raises(RosterError) as info:
        await import_roster(path)
    assert "'WangWu' 与数据库中已有的 [[members]]（key 'm-wang'）的 'wangwu' 只有大小写不同" in str(info.value)
    assert not await Member.filter(key="m-new").exists()
    # The same member changing the case of its own userid is an update, not a clash.
    path.write_text(ROSTER.read_text(encoding="utf-8").replace('"wangwu"', '"WangWu"'), encoding="utf-8")
    assert (await import_roster(path)).updated["members"] == 1
    assert (await Member.get(key="m-wang")).wecom_userid == "WangWu"
