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
        ('[[members]]\nkey = "m-a"\n', "[[members]] #1 (key 'm-a'): field 'name' is missing"),
        ('[[members]]\nkey = "M A"\nname = "x"\n', "[[members]] #1 (key 'M A'): field 'key' must match"),
        (  # counted from 1: the second [[members]] table in the file
            '[[members]]\nkey = "m-a"\nname = "x"\n[[members]]\nkey = "m-b"\n',
            "[[members]] #2 (key 'm-b'): field 'name' is missing",
        ),
        (
            '[[contact_points]]\nkey = "cp"\nname = "x"\nkind = "mall"\n',
            "[[contact_points]] #1 (key 'cp'): field 'kind' must be one of",
        ),
        (
            '[[contact_points]]\nkey = "cp"\nname = "x"\nmembers = ["m-ghost"]\n',
            "unknown member 'm-ghost'",
        ),
        (
            '[[contact_points]]\nkey = "cp"\nname = "x"\nlatitude = 30.1\n',
            "[[contact_points]] #1 (key 'cp'): field 'longitude' is missing (give latitude and longitude)",
        ),
        (
            '[[contact_points]]\nkey = "cp"\nname = "x"\nlatitude = 95\nlongitude = 120\n',
            "field 'latitude' must be a number of degrees between -90 and 90",
        ),
        (
            '[[contact_points]]\nkey = "cp"\nname = "x"\nlatitude = 30\nlongitude = "120"\n',
            "field 'longitude' must be a number of degrees between -180 and 180",
        ),
        ('[[staff]]\nkey = "s"\nname = "x"\n', "[[staff]] #1 (key 's'): field 'wecom_userid' is missing"),
        ('[[members]]\nkey = "m"\nname = "x"\nphone = 1\n', "field 'phone' is not a known field"),
        ("[[shops]]\nkey = 'x'\n", "unknown section [[shops]]"),
        ("not toml = = ", "not valid TOML"),
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
    assert "[[members]] #4 (key 'm-zhang2')" in message
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
