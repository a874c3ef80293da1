"""docs/commands.md against the chat command tables: the docs cannot drift from what 帮助 shows.

Every verb and English alias of the staff and member tables appears in the matching table of
docs/commands.md with the same usage, and every row there is a command of the code; the help text
each audience gets for 帮助 carries the documented usage and alias.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

# The command tables and help texts, in one place: when these move, only these lines change.
from handlers.routers.member import MEMBER_COMMANDS
from handlers.routers.member import help_text as member_help_text
from handlers.routers.staff import STAFF_COMMANDS
from handlers.routers.staff import help_text as staff_help_text

DOC = Path(__file__).resolve().parent.parent / "docs" / "commands.md"

# (heading the table sits under, the code's table, the code's 帮助 text)
TABLES = {
    "staff": ("## 工作人员命令", STAFF_COMMANDS, staff_help_text),
    "member": ("## 委员命令", MEMBER_COMMANDS, member_help_text),
}


def split_row(line: str) -> list[str]:
    """The cells of a markdown table row; `\\|` is a literal bar inside a cell."""
    cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [cell.strip().replace("\\|", "|") for cell in cells]


def code_spans(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def doc_table(heading: str) -> list[tuple[str, str, str]]:
    """(verb, alias, usage) of each row of the first table under `heading` (up to the next heading)."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(heading)]
    assert len(starts) == 1, f"docs/commands.md needs exactly one heading starting with {heading!r}"
    table: list[str] = []
    for line in lines[starts[0] + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            table.append(line)
        elif table:
            break  # the first table ended
    assert len(table) > 2, f"no table under {heading!r} in docs/commands.md"
    header, separator, *rows = table
    assert split_row(header)[:2] == ["命令", "英文别名"], header
    assert set(separator) <= set("|-: "), separator
    found = []
    for row in rows:
        cells = split_row(row)
        usages, aliases = code_spans(cells[0]), code_spans(cells[1])
        assert len(usages) == 1, f"one `command` per row: {row}"
        assert len(aliases) == 1, f"one `alias` per row: {row}"
        usage, alias = usages[0], aliases[0]
        found.append((usage.split()[0], alias, usage))
    return found


@pytest.mark.parametrize("audience", sorted(TABLES))
def test_docs_table_lists_every_command_and_nothing_else(audience: str) -> None:
    heading, commands, _ = TABLES[audience]
    documented = doc_table(heading)
    in_code = [(verb, alias, usage) for verb, alias, usage, _ in commands]
    assert len({verb for verb, _, _ in documented}) == len(documented), "a verb is listed twice"
    doc_words = {word for verb, alias, _ in documented for word in (verb, alias)}
    code_words = {word for verb, alias, _ in in_code for word in (verb, alias)}
    assert doc_words - code_words == set(), "documented, but not a command in the code"
    assert code_words - doc_words == set(), "a command of the code missing from docs/commands.md"
    assert sorted(documented) == sorted(in_code), "verb, alias and usage must match the code's table"


@pytest.mark.parametrize("audience", sorted(TABLES))
def test_help_text_shows_each_documented_row(audience: str) -> None:
    heading, _, help_text = TABLES[audience]
    shown = help_text()
    for _, alias, usage in doc_table(heading):
        assert f"{usage}（{alias}）" in shown, f"帮助 does not show {usage} ({alias})"


def test_row_parsing_keeps_escaped_bars() -> None:
    assert split_row("| `回访 <编号> <1\\|2\\|3> [备注]` | `visit` | x |") == [
        "`回访 <编号> <1|2|3> [备注]`",
        "`visit`",
        "x",
    ]
