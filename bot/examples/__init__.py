"""The example configuration and roster, shipped inside the package.

`config.example.toml` and `roster.example.toml` here are symlinks to the files at the top of the
source tree, where users look for them; building a wheel or an sdist copies their content, so an
installed mashang has them without the source tree. The example configuration is not only a demo:
its values are what `demo_credentials()` compares against, the guard that refuses to talk to the
real WeChat with demo credentials. A missing example therefore raises, never reads as empty.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib.resources import as_file, files
from pathlib import Path

CONFIG = "config.example.toml"
ROSTER = "roster.example.toml"


class ExampleMissingError(RuntimeError):
    """A packaged example file cannot be read: a broken install. The message is one line."""


def example_text(name: str) -> str:
    """The text of a packaged example (CONFIG or ROSTER); raises ExampleMissingError."""
    resource = files(__name__).joinpath(name)
    try:
        return resource.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExampleMissingError(
            f"随 mashang 安装的示例文件 {name}（{__name__}）无法读取（{type(exc).__name__}：{exc}），"
            "请重新安装 mashang"
        ) from None


@contextlib.contextmanager
def example_path(name: str) -> Iterator[Path]:
    """A real file path to a packaged example for as long as the context lasts (e.g. for the
    roster import, which reads a path); raises ExampleMissingError."""
    example_text(name)  # fail loudly, and alike, whatever importlib.resources would do with a missing file
    with as_file(files(__name__).joinpath(name)) as path:
        yield path
