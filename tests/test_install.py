"""mashang installed from its wheel, away from the source tree, still has its example files, and the
guard against demo credentials still works: the example configuration is what it compares with."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot import examples
from bot.cli.main import main
from bot.config import ConfigError, demo_credentials, example_config, load_config

ROOT = Path(__file__).resolve().parent.parent
# Not part of the wheel, or produced by earlier builds (a stale build/ would leak into the wheel).
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "data", "out", "__pycache__", ".*_cache", "tests", "scripts"
)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MASHANG_", "PYTHON"))}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the source tree (symlinks kept as symlinks, as in a checkout),
    installed with pip into a folder of its own; returns that folder (for PYTHONPATH)."""
    work = tmp_path_factory.mktemp("install")
    source = work / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=_NOT_SOURCE)
    assert (source / "bot" / "examples" / examples.CONFIG).is_symlink()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]

    def run_pip(*args: str) -> None:
        result = subprocess.run([*pip, *args], cwd=work, env=clean_env(), capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr

    run_pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(work / "wheels"), str(source))
    (wheel,) = (work / "wheels").glob("mashang-*.whl")
    run_pip("install", "--no-deps", "--no-index", "--target", str(work / "site"), str(wheel))
    return work / "site"


def run_installed(site: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The `mashang` console script of the installed wheel, with the test's interpreter (which has the
    dependencies) and nothing of the source tree on its path."""
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [str(site / "bin" / "mashang"), *args],
        cwd=cwd,
        env=clean_env(PYTHONPATH=str(site), PYTHONSAFEPATH="1", **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_wheel_holds_the_example_files_themselves(installed: Path) -> None:
    for name in (examples.CONFIG, examples.ROSTER):
        packaged = installed / "bot" / "examples" / name
        assert packaged.is_file()
        assert not packaged.is_symlink()
        assert packaged.read_bytes() == (ROOT / name).read_bytes()


def test_installed_serve_refuses_the_demo_credentials(installed: Path, tmp_path: Path) -> None:
    # The code that runs is the installed copy, not the source tree (the editable install of .venv).
    probe = subprocess.run(
        [sys.executable, "-c", "import bot.config; print(bot.config.__file__)"],
        cwd=tmp_path,
        env=clean_env(PYTHONPATH=str(installed), PYTHONSAFEPATH="1"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert Path(probe.stdout.strip()).is_relative_to(installed)
    # No config.toml here: the packaged example's demo values, with the real api.weixin.qq.com.
    result = run_installed(
        installed, tmp_path / "run", "serve", MASHANG_REDIS_DATA_DIR=str(tmp_path / "redis"), MASHANG_SERVER_PORT="1"
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "配置错误：wechat.app_id, wechat.app_secret" in result.stderr
    assert "仍是 config.example.toml 的演示值" in result.stderr
    assert "serving on" not in result.stdout
    # A config.toml that points WeCom at its real API too and forgets one credential.
    config = tmp_path / "run" / "config.toml"
    config.write_text('[wecom]\napi_base_url = "https://qyapi.weixin.qq.com"\n', encoding="utf-8")
    result = run_installed(installed, tmp_path / "run", "serve", MASHANG_WECHAT_API_BASE_URL="https://example.org")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "配置错误：wecom.corp_id" in result.stderr
    assert "wechat." not in result.stderr
    assert "仍是 config.example.toml 的演示值" in result.stderr


def test_installed_example_roster_imports(installed: Path, tmp_path: Path) -> None:
    database = f"sqlite://{tmp_path / 'roster.sqlite3'}"
    result = run_installed(installed, tmp_path / "run", "roster", "import", "--example", MASHANG_DATABASE_URL=database)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "已导入花名册" in result.stdout
    assert "没有变化" not in result.stdout
    again = run_installed(installed, tmp_path / "run", "roster", "import", "--example", MASHANG_DATABASE_URL=database)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "没有变化" in again.stdout


# --- a missing example fails loudly ----------------------------------------------------------------


def test_packaged_example_config_is_the_top_level_one() -> None:
    assert example_config()["wechat"]["app_id"] == "wxdemo0000000000"
    assert examples.example_text(examples.CONFIG) == (ROOT / "config.example.toml").read_text(encoding="utf-8")
    assert examples.example_text(examples.ROSTER) == (ROOT / "roster.example.toml").read_text(encoding="utf-8")


def test_a_missing_example_config_stops_the_guard_loudly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = load_config(ROOT / "config.example.toml", environ={})
    monkeypatch.setattr(examples, "CONFIG", "gone.example.toml")
    with pytest.raises(ConfigError, match=r"gone\.example\.toml.*无法读取"):
        demo_credentials(config)
    monkeypatch.chdir(tmp_path)  # no config.toml: the fallback to the example fails the same way
    with pytest.raises(ConfigError, match=r"gone\.example\.toml"):
        load_config(environ={})
    (tmp_path / "config.toml").write_text("", encoding="utf-8")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("配置错误：config：随 mashang 安装的示例文件 gone.example.toml")
    assert len(err.splitlines()) == 1


def test_a_missing_example_roster_fails_the_import(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(examples, "ROSTER", "gone.example.toml")
    monkeypatch.setenv("MASHANG_DATABASE_URL", f"sqlite://{tmp_path / 'roster.sqlite3'}")
    assert main(["--config", str(ROOT / "config.example.toml"), "roster", "import", "--example"]) == 2
    assert "花名册导入失败：随 mashang 安装的示例文件 gone.example.toml" in capsys.readouterr().err


def test_the_wheel_holds_the_case_page_templates_and_stylesheet(installed: Path, tmp_path: Path) -> None:
    for name in ("templates/base.html", "templates/case.html", "templates/notice.html", "assets/case-page.css"):
        assert (installed / "bot" / "web" / name).read_bytes() == (ROOT / "bot" / "web" / name).read_bytes()
    # Rendered by the installed copy, from its package data (not from the source tree).
    script = (
        "from bot.web import case_page; import bot.web; "
        "page = case_page.notice(410, 'T', '<b>x</b>', 'MS1'); "
        "print(bot.web.__file__); print(page.text)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=clean_env(PYTHONPATH=str(installed), PYTHONSAFEPATH="1"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    where, body = result.stdout.split("\n", 1)
    assert Path(where).is_relative_to(installed)
    assert "&lt;b&gt;x&lt;/b&gt;" in body
    assert "assets/case-page.css?v=" in body
