"""What the README promises a new user: `mashang serve --demo` and `mashang simulate` work together."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run_cli(env: dict[str, str], *args: str, stdin: bytes | None = None) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli.main",
        *args,
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(stdin), 60)
    return process.returncode or 0, output.decode()


@pytest.fixture
def demo_env(tmp_path: Path) -> dict[str, str]:
    port, sim_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASHANG_")}
    env.update(
        MASHANG_DATABASE_URL=f"sqlite://{tmp_path / 'demo.sqlite3'}",
        MASHANG_REDIS_URL="",
        MASHANG_REDIS_DATA_DIR=str(tmp_path / "redis"),
        MASHANG_INTAKE_MEDIA_DIR=str(tmp_path / "media"),
        MASHANG_SERVER_PORT=str(port),  # one variable per port: public_base_url follows host and port
        MASHANG_SIMULATOR_PORT=str(sim_port),
    )
    return env


async def wait_until_healthy(base_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(150):
            try:
                async with session.get(f"{base_url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    pytest.fail("the demo service did not come up")


async def test_demo_service_and_terminal_simulator(demo_env: dict[str, str], tmp_path: Path) -> None:
    code, output = await run_cli(demo_env, "roster", "import", "roster.example.toml")
    assert code == 0, output
    assert "联系点：新增 4" in output
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli.main",
        "serve",
        "--demo",
        cwd=ROOT,
        env=demo_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{demo_env['MASHANG_SERVER_PORT']}"
    try:
        await wait_until_healthy(base_url)
        # Real time: the service and the simulator are processes of their own on the real clock; after a
        # callback the simulator waits up to 1.5 s for what is pushed, as at a terminal, /wait the whole time.
        script = tmp_path / "citizen.txt"
        script.write_text(
            "/points\n/scan hz-hospital-1\n医院门口停车太难，每天排队一小时\n我的\n/wait 1\n"
            "/as lisi\n派 {code} 张三\n/as zhangsan\n答 {code} 已协调增设停车位\n/citizen\n/wait 2\n/quit\n",
            encoding="utf-8",
        )
        code, output = await run_cli(demo_env, "simulate", "--script", str(script))
        assert code == 0, output
        assert "hz-hospital-1" in output
        assert "湖州市中心医院" in output
        assert "欢迎来到「湖州市中心医院」" in output
        match = re.search(r"查询编号：(MS\d{11,})", output)
        assert match, output
        code = match.group(1)
        assert f"1. {code}" in output  # 我的 lists the new case
        assert f"[分拣群] 新诉求 {code}\n" in output  # the card reached the triage group, as WeCom shows it
        assert f"已将 {code} 交办给委员张三" in output  # staff assigned it in WeCom
        assert f"【新交办】编号 {code}" in output  # the member got it
        assert f"【答复】您的诉求（编号 {code}）：已协调增设停车位" in output  # and the citizen got the reply
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), 20)
    assert server.returncode == 0 or server.returncode == -15
    assert server.stdout is not None
    printed = (await server.stdout.read()).decode()
    # The banner names the addresses really served: the port from the environment, every callback path.
    assert f"码上商已启动，监听 {base_url}" in printed
    for path in ("/wechat/callback", "/wecom/callback", "/wecom/bot", "/api/v1", "/c/<token>", "/console"):
        assert f"{base_url}{path}" in printed, path
    assert f"模拟微信/企业微信平台在 http://127.0.0.1:{demo_env['MASHANG_SIMULATOR_PORT']}" in printed
    assert "演示时钟：交办期限 5分钟、答复期限 10分钟；答复 1分钟 后发回访问卷" in printed
    # The simulator polled the fake platform all along: with the access log off (the default), none of
    # that buries what the server prints.
    assert "aiohttp.access" not in printed, printed[-2000:]


async def test_serve_and_simulate_read_the_same_config_file(demo_env: dict[str, str], tmp_path: Path) -> None:
    port, sim_port = free_port(), free_port()
    config = tmp_path / "config.toml"  # the example, as an operator copies it, with the ports changed
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    assert "port = 8080\n" in example
    assert "port = 8090 " in example
    config.write_text(
        example.replace("port = 8080\n", f"port = {port}\n").replace("port = 8090 ", f"port = {sim_port} "),
        encoding="utf-8",
    )
    env = {k: v for k, v in demo_env.items() if k not in ("MASHANG_SERVER_PORT", "MASHANG_SIMULATOR_PORT")}
    code, output = await run_cli(env, "roster", "import", "--config", str(config), "roster.example.toml")
    assert code == 0, output
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli.main",
        "serve",
        "--demo",
        "--config",
        str(config),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await wait_until_healthy(f"http://127.0.0.1:{port}")
        script = tmp_path / "citizen.txt"
        script.write_text("/scan hz-hospital-1\n/quit\n", encoding="utf-8")
        code, output = await run_cli(env, "simulate", "--config", str(config), "--script", str(script))
        assert code == 0, output
        assert "欢迎来到「湖州市中心医院」" in output  # it found the service and its fake platform
        # Without the file it looks where the defaults say, and says how to point it at the service.
        code, output = await run_cli(env, "simulate", "--script", str(script))
        assert code == 1
        assert "两边要用同一份配置" in output
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), 20)
    assert server.stdout is not None
    assert f"码上商已启动，监听 http://127.0.0.1:{port}" in (await server.stdout.read()).decode()


async def test_a_bad_setting_stops_the_start_with_one_line(demo_env: dict[str, str]) -> None:
    env = {**demo_env, "MASHANG_SLA_ASSIGN_WITHIN": "two days"}
    code, output = await run_cli(env, "serve")
    assert code == 2
    assert output.strip().splitlines() == [
        "配置错误：sla.assign_within：不是时长（写秒数，或带 s、m、h、d 的数，如 '2d'）：'two days'"
    ]


async def test_serving_the_real_wechat_with_demo_credentials_is_refused(demo_env: dict[str, str]) -> None:
    code, output = await run_cli(demo_env, "serve")  # no config.toml: config.example.toml's demo values
    assert code == 2
    [line] = output.strip().splitlines()
    assert line.startswith("配置错误：wechat.app_id, wechat.app_secret, ")
    assert "wechat.templates.reply.id" in line
    assert "mashang serve --demo" in line


async def test_member_bind_code_command(demo_env: dict[str, str]) -> None:
    await run_cli(demo_env, "roster", "import", "roster.example.toml")
    beijing = timezone(timedelta(hours=8))
    before = (datetime.now(UTC) + timedelta(days=3)).astimezone(beijing)
    code, output = await run_cli(demo_env, "member", "bind-code", "m-zhao")
    after = (datetime.now(UTC) + timedelta(days=3)).astimezone(beijing)
    assert code == 0, output
    assert re.search(r"绑定 [2-9A-HJKMNP-Z]{4} [2-9A-HJKMNP-Z]{4} [2-9A-HJKMNP-Z]{4}」", output)
    # Valid three days, said in Beijing time like every other time the service shows.
    assert f"北京时间 {before:%Y-%m-%d}" in output or f"北京时间 {after:%Y-%m-%d}" in output  # midnight between
    assert "UTC" not in output
    code, output = await run_cli(demo_env, "member", "bind-code", "m-nobody")
    assert code == 2
    assert "m-nobody" in output
    assert "例如 m-" in output  # says what a member's key looks like
    code, output = await run_cli(demo_env, "member", "bind-code", "zhangsan")  # the WeCom userid works too
    assert code == 0, output
    assert "张三" in output


@contextlib.asynccontextmanager
async def simulator_on_a_fake_platform() -> AsyncIterator[tuple[Any, Any]]:
    """A simulator (citizen o-sim) in this process, reading a fake platform served here: no service needed."""
    from aiohttp.test_utils import TestServer

    from bot.cli.main import demo_config
    from bot.config import load_config
    from bot.demo.fake_platform import FakePlatform, create_fake_platform
    from bot.demo.simulator import Simulator

    config = demo_config(load_config(None, environ={}))
    platform = FakePlatform.for_config(config)
    server = TestServer(create_fake_platform(platform))
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            yield platform, Simulator(config, session, "o-sim", "safe", str(server.make_url("")))
    finally:
        await server.close()


async def test_the_simulator_keeps_showing_pushed_messages_after_the_service_restarts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with simulator_on_a_fake_platform() as (platform, simulator):
        for number in range(3):
            platform._deliver("custom", "o-sim", "oa", "text", f"旧消息{number}", {})
        await simulator.start()  # what came before the simulator started is not shown
        platform._deliver("custom", "o-sim", "oa", "text", "重启前的消息", {})
        await simulator.show_pushed(wait_s=0)
        platform.reset()  # the service restarted: a new record, numbered from 0 again
        platform._deliver("custom", "o-sim", "oa", "text", "重启后的第一条", {})
        await simulator.show_pushed(wait_s=0)
    shown = capsys.readouterr().out
    assert "旧消息" not in shown
    assert "重启前的消息" in shown
    assert "服务刚刚重新启动" in shown
    assert "重启后的第一条" in shown


async def test_simulator_fault_commands_whole_waits_and_codes_from_ones_own_messages(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with simulator_on_a_fake_platform() as (platform, simulator):
        await simulator.start()
        assert await simulator.handle("/outage message/custom/send")
        assert len(platform._faults) == 1
        assert await simulator.handle("/recover")
        assert platform._faults == []
        assert await simulator.handle("/expire")
        assert await simulator.handle("/misconfigure 40164")
        assert platform._misconfiguration("/wechat/cgi-bin/message/custom/send") is not None
        assert await simulator.handle("/misconfigure 12345")  # not one of the codes: the usage, nothing changes
        assert await simulator.handle("/fix")
        assert platform._misconfiguration("/wechat/cgi-bin/message/custom/send") is None

        # /wait shows everything that arrives while it waits, not only the first message. Real time: the
        # simulator is a terminal for a person; its /wait runs on time.monotonic().
        loop = asyncio.get_running_loop()
        mine = "MS26113000017"
        group_key = simulator.group_key
        assert group_key
        loop.call_later(0.1, platform._deliver, "custom", "o-sim", "oa", "text", f"关于 {mine} 的答复", {})
        card = "**新诉求 MS26113000025**"
        loop.call_later(0.2, platform._deliver, "webhook", group_key, "bot", "markdown", card, {})
        loop.call_later(0.6, platform._deliver, "custom", "o-sim", "oa", "text", "【回访】您对答复满意吗？", {})
        assert await simulator.handle("/wait 1.2")
        # {code} is the last code sent to me, not one from somebody's card in the triage group.
        assert simulator.last_code == mine
    shown = capsys.readouterr().out
    assert "全部 access_token 已失效" in shown
    assert "配置错误 40164" in shown
    assert "用法：/misconfigure" in shown
    assert f"关于 {mine} 的答复" in shown
    assert "新诉求 MS26113000025" in shown
    assert "【回访】您对答复满意吗？" in shown  # arrived after the first message, still within the wait
