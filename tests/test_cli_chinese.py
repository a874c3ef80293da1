"""`mashang --help`, every sub-command's help and argparse's own errors read in Chinese, one language."""

from __future__ import annotations

import argparse
import gettext
import re

import pytest

from bot.cli.main import build_parser, main

# A phrase of English: two ordinary lowercase words in a row ("show this", "positional arguments").
# Names an operator types are not prose: options (--out), placeholders (FILE), `code`, [sections],
# file names, keys with _ or digits, and the words of the command line itself (mashang serve --demo).
_PHRASE = re.compile(r"(?<![\w./\-])([a-z]{2,})[ ]+([a-z]{2,})(?![\w./\-])")
_NOT_PROSE = re.compile(r"`[^`]*`|\[[^\]]*\]|--?[a-z][\w-]*|\{[^}]*\}|\S*[._/<>=:]\S*")


def command_words(parser: argparse.ArgumentParser) -> set[str]:
    words = {"mashang", "pip", "apt", "get", "install", "dpi"}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                words.add(name)
                words |= command_words(sub)
        words |= {str(choice) for choice in action.choices or [] if isinstance(choice, str)}
    return words


def help_pages(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    pages = [path]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                pages += help_pages(sub, (*path, name))
    return pages


def english_phrases(text: str, allowed: set[str]) -> list[str]:
    prose = _NOT_PROSE.sub(" ", text)
    return [
        f"{first} {second}"
        for first, second in _PHRASE.findall(prose)
        if first not in allowed or second not in allowed
    ]


PAGES = help_pages(build_parser())


def test_every_command_has_a_help_page() -> None:
    assert ("serve",) in PAGES
    assert ("qr", "make") in PAGES
    assert ("report", "similar") in PAGES
    assert len(PAGES) >= 20


@pytest.mark.parametrize("path", PAGES, ids=lambda path: " ".join(path) or "mashang")
def test_help_pages_are_chinese(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*path, "--help"])
    assert exit_info.value.code == 0
    page = capsys.readouterr().out
    assert page.startswith("用法：mashang")
    assert "显示本帮助并退出" in page
    for english in ("usage:", "positional arguments", "options:", "show this help message and exit"):
        assert english not in page
    assert english_phrases(page, command_words(build_parser())) == [], page


def test_the_check_finds_english() -> None:
    allowed = command_words(build_parser())
    assert english_phrases("  -h, --help  show this help message and exit", allowed) == [
        "show this",
        "help message",
        "and exit",
    ]
    assert english_phrases("在另一个终端运行 mashang serve --demo，读 [simulator] host、port", allowed) == []
    assert "the codes" in english_phrases("make (or reuse) the codes of contact points", allowed)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], "缺少必需的参数：COMMAND"),
        (["serve", "--bogus"], "无法识别的参数：--bogus"),
        (["simulate", "--mode", "tls"], "参数 --mode：无效的选择：'tls'（可选：'plain', 'compat', 'safe'）"),
        (["qr", "make", "--expire", "7x"], "参数 --expire：不是时长"),
        (["report", "hotspots", "--weeks"], "参数 --weeks：需要一个值"),
    ],
)
def test_argparse_errors_are_chinese(argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("用法：mashang")
    assert "mashang" in err.splitlines()[-1]
    assert "：错误：" in err
    assert expected in err


def test_argparse_is_itself_again_after_the_command() -> None:
    """Only the mashang command speaks Chinese: argparse elsewhere in the process (pytest) is untouched."""
    with pytest.raises(SystemExit):
        main(["--help"])
    assert argparse._ is gettext.gettext  # type: ignore[attr-defined]
    assert "usage:" in argparse.ArgumentParser(prog="x").format_usage()
