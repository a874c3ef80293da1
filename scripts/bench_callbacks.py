"""Benchmark: safe-mode official-account text callbacks against one server process.

    .venv/bin/python scripts/bench_callbacks.py                      # starts its own `mashang serve --demo`
    .venv/bin/python scripts/bench_callbacks.py -n 20000 -c 128 --rate 800 --duration 20
    .venv/bin/python scripts/bench_callbacks.py --url http://127.0.0.1:8080 \\
        --db-url sqlite://data/mashang.sqlite3 --server-pid 12345    # a server that is already running

By default the script imports the demo roster into a temporary data dir (SQLite, embedded Redis), starts
`python -m bot.cli.main serve --demo` on free ports and waits for /healthz. Every callback is built and
encrypted the way WeChat does it in safe mode before any timing starts, each distinct message from its
own openid (so each makes its own case); 10% of the sends are exact retries of an earlier message (same
query, same body, same MsgId).

Phase 1 (throughput): N sends, C at a time, over one aiohttp session with a connection pool.
Phase 2 (latency): a fixed rate for a duration, paced open-loop: sends are scheduled by the clock, not by
completions, and latency counts from the scheduled moment, so a server that falls behind cannot hide its
queue (no coordinated omission).
Then it waits for the inbox rows to be handled and checks in the database that the cases created
equal the distinct messages sent (and so do the inbox rows and the case messages); it exits 1 if they differ.

With --transport-only the script starts, instead of the service, the same official-account transport
(HTTP, signatures, AES, XML, the passive reply) in front of an inbox that stores nothing and answers at
once: a calibration of what this machine can do at all, before any case is written (nothing is counted).

Targets on a 2-core machine, one server process: >= 2,000 callbacks/s; p99 < 50 ms at 500/s.
The load generator runs on the same cores as the server and takes part of them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from wechatpy.crypto import PrpCrypto
from yarl import URL

from bot.config import Config, ConfigError, load_config
from bot.demo.fake_callbacks import build_xml, next_msg_id
from bot.transport.signing import sha1_signature

ROOT = Path(__file__).resolve().parent.parent
ORIGINAL_ID = "gh_bench000000"
WECHAT_DEADLINE_S = 5.0  # WeChat waits this long for an answer, then retries (three tries in all)
CLIENT_TIMEOUT_S = 30.0
TEXTS = [
    "小区门口的路灯坏了好几天，晚上很黑，老人出门不安全，希望尽快修好。",
    "公交站台的遮雨棚破了，下雨天等车都淋湿，能不能安排维修？",
    "学校附近早晚高峰车辆乱停，孩子过马路很危险，建议增加交通协管。",
    "社区卫生服务中心周末不开门，上班族看病不方便，希望能延长服务时间。",
    "菜市场旁边的垃圾桶经常满了没人清理，气味很大，请督促保洁及时清运。",
    "河道里最近漂着很多垃圾和水草，影响环境，建议定期打捞。",
    "老旧小区加装电梯的政策怎么申请？楼里很多老人爬楼很困难。",
    "企业办理环评审批时间太长，材料要求也不清楚，希望简化流程。",
]


@dataclass(frozen=True)
class Send:
    url: URL  # the callback URL with its signed query, encoded once
    body: bytes
    message: int  # which distinct message (a retry repeats its original's number)
    retry: bool


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)  # seconds
    replies: int = 0  # 200 with a (encrypted) passive reply
    acks: int = 0  # 200 with "success" / empty: no reply carried
    non_200: int = 0
    errors: int = 0  # no HTTP answer
    statuses: dict[int, int] = field(default_factory=dict)
    answered: set[int] = field(default_factory=set)  # distinct messages with at least one 200
    over_deadline: int = 0  # answers (or failures) later than WeChat's 5 s: WeChat would have retried
    elapsed: float = 0.0
    max_lag: float = 0.0  # open loop: how late the client itself started a send

    def record(self, latency: float) -> None:
        self.latencies.append(latency)
        if latency > WECHAT_DEADLINE_S:
            self.over_deadline += 1


# ---- building the callbacks ---------------------------------------------------------------------------


class CallbackFactory:
    """Signs and encrypts text pushes exactly like WeChat in safe mode (see bot/fake_callbacks.py)."""

    def __init__(self, config: Config, base_url: str, run_id: str) -> None:
        if not config.wechat.encoding_aes_key:
            raise SystemExit("wechat.encoding_aes_key is empty: the server does not accept safe-mode callbacks")
        self.token = config.wechat.token
        self.app_id = config.wechat.app_id
        self.prp = PrpCrypto(base64_key(config.wechat.encoding_aes_key))
        self.callback_url = base_url.rstrip("/") + "/wechat/callback"
        self.openid_prefix = f"o-bench-{run_id}-"
        self.distinct = 0

    def message(self, rng: random.Random) -> Send:
        self.distinct += 1
        openid = f"{self.openid_prefix}{self.distinct}"
        xml = build_xml(
            {
                "ToUserName": ORIGINAL_ID,
                "FromUserName": openid,
                "CreateTime": int(time.time()),
                "MsgType": "text",
                "Content": f"{rng.choice(TEXTS)}（第{self.distinct}条）",
                "MsgId": next_msg_id(),
            }
        )
        timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
        encrypt = self.prp.encrypt(xml, self.app_id).decode()
        query = {
            "signature": sha1_signature(self.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": openid,
            "encrypt_type": "aes",
            "msg_signature": sha1_signature(self.token, timestamp, nonce, encrypt),
        }
        body = build_xml({"ToUserName": ORIGINAL_ID, "Encrypt": encrypt}).encode()
        url = URL(f"{self.callback_url}?{urlencode(query)}", encoded=True)
        return Send(url, body, self.distinct, retry=False)

    def sequence(self, count: int, retry_fraction: float, lag: int, rng: random.Random) -> list[Send]:
        """`count` sends; round(count * retry_fraction) of them repeat a message sent `lag`+ sends earlier."""
        retries = min(count - 1, round(count * retry_fraction)) if count > 1 else 0
        positions = set(rng.sample(range(1, count), retries)) if retries else set()
        sends: list[Send] = []
        originals: list[int] = []  # indexes into sends of the distinct messages
        for index in range(count):
            if index in positions:
                eligible = [i for i in originals if i <= index - lag] or originals
                original = sends[rng.choice(eligible)]
                sends.append(Send(original.url, original.body, original.message, retry=True))
            else:
                originals.append(index)
                sends.append(self.message(rng))
        return sends


def base64_key(encoding_aes_key: str) -> bytes:
    return base64.b64decode(encoding_aes_key + "=")


# ---- sending ------------------------------------------------------------------------------------------


async def post(session: aiohttp.ClientSession, send: Send, outcome: Outcome) -> None:
    try:
        async with session.post(send.url, data=send.body, headers={"Content-Type": "text/xml"}) as resp:
            body = await resp.read()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError):
        outcome.errors += 1
        return
    outcome.statuses[status] = outcome.statuses.get(status, 0) + 1
    if status == 200:
        outcome.answered.add(send.message)
    if status != 200:
        outcome.non_200 += 1
    elif body.lstrip().startswith(b"<xml"):
        outcome.replies += 1
    else:
        outcome.acks += 1


async def closed_loop(base: str, sends: list[Send], concurrency: int) -> Outcome:
    """Phase 1: `concurrency` workers each send the next callback as soon as theirs is answered."""
    outcome = Outcome()
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await warm_connections(session, base, concurrency)
        feed = iter(sends)

        async def worker() -> None:
            for send in feed:
                started = time.perf_counter()
                await post(session, send, outcome)
                outcome.record(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        outcome.elapsed = time.perf_counter() - began
    return outcome


async def open_loop(base: str, sends: list[Send], rate: float, pool: int) -> Outcome:
    """Phase 2: send k starts at t0 + k/rate whatever happened to the earlier ones."""
    outcome = Outcome()
    connector = aiohttp.TCPConnector(limit=pool)
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await warm_connections(session, base, min(pool, 32))

        async def one(send: Send, due: float) -> None:
            await post(session, send, outcome)
            outcome.record(loop.time() - due)

        tasks: list[asyncio.Task[None]] = []
        start = loop.time() + 0.05
        for index, send in enumerate(sends):
            due = start + index / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                outcome.max_lag = max(outcome.max_lag, -delay)
            tasks.append(asyncio.create_task(one(send, due)))
        await asyncio.gather(*tasks)
        outcome.elapsed = loop.time() - start
    return outcome


async def warm_connections(session: aiohttp.ClientSession, base: str, count: int) -> None:
    """Open the pool's connections (GET /healthz) so that connecting is not timed."""

    async def hit() -> None:
        async with session.get(base.rstrip("/") + "/healthz") as resp:
            await resp.read()

    await asyncio.gather(*(hit() for _ in range(count)))


# ---- the server under test ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OwnServer:
    """`python -m bot.cli.main serve --demo` on free ports with its data (SQLite, Redis) in a temporary dir."""

    def __init__(self, data_dir: Path, config_path: str | None, transport_only: bool = False) -> None:
        self.transport_only = transport_only
        self.data_dir = data_dir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.db_path = data_dir / "bench.sqlite3"
        self.db_url = f"sqlite://{self.db_path}"
        self.config_args = ["--config", config_path] if config_path else []
        self.env = dict(os.environ)
        self.env.update(
            {
                "MASHANG_DATABASE_URL": self.db_url,
                "MASHANG_REDIS_URL": "",
                "MASHANG_REDIS_DATA_DIR": str(data_dir / "redis"),
                "MASHANG_SERVER_HOST": "127.0.0.1",
                "MASHANG_SERVER_PORT": str(self.port),
                "MASHANG_SERVER_PUBLIC_BASE_URL": self.base_url,
                "MASHANG_SIMULATOR_HOST": "127.0.0.1",
                "MASHANG_SIMULATOR_PORT": str(free_port()),
                "MASHANG_INTAKE_MEDIA_DIR": str(data_dir / "media"),
            }
        )
        self.log_path = data_dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "bot.cli.main", *self.config_args]
        if self.transport_only:
            serve = [sys.executable, str(Path(__file__).resolve()), "--serve-transport-only", *self.config_args]
        else:
            subprocess.run(
                [*command, "roster", "import", str(ROOT / "roster.example.toml")],
                cwd=ROOT,
                env=self.env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            serve = [*command, "serve", "--demo"]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(serve, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base_url + "/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"the server did not answer /healthz within 60 s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# ---- /proc readings ---------------------------------------------------------------------------------


def proc_status(pid: int, key: str) -> int | None:
    """A `kB` field of /proc/<pid>/status (VmHWM: peak resident set size)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def proc_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process, all its threads (the aiosqlite thread included)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


# ---- the database check -------------------------------------------------------------------------------


@dataclass
class Counts:
    cases: int
    messages: int
    inbox: dict[str, int]
    jobs: dict[tuple[str, bool], int]  # (status, due now) -> count, for the jobs of these cases

    @property
    def inbox_total(self) -> int:
        return sum(self.inbox.values())

    def jobs_text(self) -> str:
        parts = [f"{status}{'' if due else ' (later)'} {n}" for (status, due), n in sorted(self.jobs.items())]
        return ", ".join(parts) or "none"


COUNT_CASES = 'SELECT count(*) FROM "case" c JOIN citizen z ON z.id = c.citizen_id WHERE z.openid LIKE {p}'
COUNT_MESSAGES = "SELECT count(*) FROM case_message WHERE direction = 'in' AND author LIKE {p}"
COUNT_INBOX = "SELECT status, count(*) FROM inbound_message WHERE sender LIKE {p} GROUP BY status"
COUNT_JOBS = (
    'SELECT j.status, j.run_at <= {now}, count(*) FROM job j JOIN "case" c ON c.id = j.case_id '
    "JOIN citizen z ON z.id = c.citizen_id WHERE z.openid LIKE {p} GROUP BY 1, 2"
)


def sqlite_path(db_url: str) -> str:
    return db_url[len("sqlite://") :].split("?", 1)[0]


def count_sqlite(db_url: str, openid_prefix: str) -> Counts:
    with contextlib.closing(sqlite3.connect(sqlite_path(db_url), timeout=30)) as db:
        pattern = openid_prefix + "%"
        cases = db.execute(COUNT_CASES.format(p="?"), (pattern,)).fetchone()[0]
        messages = db.execute(COUNT_MESSAGES.format(p="?"), ("citizen:" + pattern,)).fetchone()[0]
        inbox = dict(db.execute(COUNT_INBOX.format(p="?"), (pattern,)).fetchall())
        moment = datetime.now(UTC).isoformat(sep=" ")  # Tortoise's text form of a datetime in SQLite
        rows = db.execute(COUNT_JOBS.format(p="?", now="?"), (moment, pattern)).fetchall()
    return Counts(cases, messages, inbox, {(status, bool(due)): n for status, due, n in rows})


async def count_postgres(db_url: str, openid_prefix: str) -> Counts:
    import asyncpg

    url = "postgresql" + db_url[db_url.index(":") :]
    connection = await asyncpg.connect(url)
    try:
        pattern = openid_prefix + "%"
        cases = await connection.fetchval(COUNT_CASES.format(p="$1"), pattern)
        messages = await connection.fetchval(COUNT_MESSAGES.format(p="$1"), "citizen:" + pattern)
        rows = await connection.fetch(COUNT_INBOX.format(p="$1"), pattern)
        jobs = await connection.fetch(COUNT_JOBS.format(p="$1", now="$2"), pattern, datetime.now(UTC))
    finally:
        await connection.close()
    return Counts(cases, messages, {row[0]: row[1] for row in rows}, {(row[0], bool(row[1])): row[2] for row in jobs})


def count(db_url: str, openid_prefix: str) -> Counts:
    if db_url.startswith("sqlite://"):
        return count_sqlite(db_url, openid_prefix)
    return asyncio.run(count_postgres(db_url, openid_prefix))


def wait_for_background(
    db_url: str, openid_prefix: str, distinct: int, answered: int, timeout_s: float
) -> tuple[Counts, float]:
    """Poll until every distinct message has an inbox row that is no longer pending (or the timeout).

    When some messages never got a 200 (an overloaded server), their rows may never come: then it stops
    once nothing is pending and the counts have not moved for 5 s. The jobs these messages made are only
    reported: triage cards go to a WeCom group robot, which takes about 20 a minute
    (bot/wecom_delivery.py), so thousands of cards take hours by design."""
    began = time.monotonic()
    last: tuple[int, int] | None = None
    stable_since = began
    while True:
        counts = count(db_url, openid_prefix)
        idle = not counts.inbox.get("pending")
        current = (counts.inbox_total, counts.cases)
        if current != last:
            last, stable_since = current, time.monotonic()
        complete = counts.inbox_total >= distinct
        gave_up = counts.inbox_total >= answered and time.monotonic() - stable_since > 5
        if (idle and (complete or gave_up)) or time.monotonic() - began > timeout_s:
            return counts, time.monotonic() - began
        time.sleep(0.25)


# ---- report -------------------------------------------------------------------------------------------


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def latency_line(outcome: Outcome) -> str:
    ordered = sorted(outcome.latencies)
    ms = [1000 * percentile(ordered, q) for q in (0.5, 0.9, 0.99)]
    return f"p50 {ms[0]:.1f} ms  p90 {ms[1]:.1f} ms  p99 {ms[2]:.1f} ms  max {1000 * ordered[-1]:.1f} ms"


def answers_line(outcome: Outcome) -> str:
    others = {s: n for s, n in sorted(outcome.statuses.items()) if s != 200}
    return (
        f"answers: {outcome.replies} passive replies, {outcome.acks} empty acks, "
        f"non-200 {outcome.non_200}{f' {others}' if others else ''}, no answer {outcome.errors} "
        f"(client timeout {CLIENT_TIMEOUT_S:g} s); later than WeChat's {WECHAT_DEADLINE_S:g} s: {outcome.over_deadline}"
    )


def machine_busy_seconds() -> float:
    """CPU seconds spent by everything on the machine (all cores), from /proc/stat."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU used during a phase by the server (with its children, e.g. the embedded Redis), this load
    generator, and everything else on the machine (other developers' tests show up there)."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.began = time.perf_counter()
        self.server = self._server()
        self.client = time.process_time()
        self.machine = machine_busy_seconds()

    def _server(self) -> float | None:
        if self.pid is None:
            return None
        own = proc_cpu_seconds(self.pid)
        if own is None:
            return None
        return own + sum(proc_cpu_seconds(child) or 0.0 for child in child_pids(self.pid))

    def line(self, callbacks: int = 0) -> str:
        elapsed = time.perf_counter() - self.began
        server_now = self._server()
        client = time.process_time() - self.client
        machine = machine_busy_seconds() - self.machine
        server = server_now - self.server if server_now is not None and self.server is not None else None
        parts = [f"server {100 * server / elapsed:.0f}%" if server is not None else "server ?"]
        parts.append(f"load generator {100 * client / elapsed:.0f}%")
        if server is not None:
            parts.append(f"everything else {max(0.0, 100 * (machine - server - client) / elapsed):.0f}%")
        cores = os.cpu_count() or 1
        per_callback = (
            f"; server CPU per callback {1e6 * server / callbacks:.0f} µs" if server is not None and callbacks else ""
        )
        return f"CPU over the phase (100% = one core of {cores}): " + ", ".join(parts) + per_callback


# ---- main ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=5000, help="phase 1: callbacks to send (default 5000)")
    parser.add_argument("-c", type=int, default=64, help="phase 1: concurrent requests (default 64)")
    parser.add_argument("--rate", type=float, default=500.0, help="phase 2: callbacks per second (default 500)")
    parser.add_argument("--duration", type=float, default=10.0, help="phase 2: seconds (default 10; 0 skips it)")
    parser.add_argument("--retries", type=float, default=0.1, help="fraction of sends that are retries (0.1)")
    parser.add_argument("--warmup", type=int, default=200, help="distinct callbacks sent before phase 1 (200)")
    parser.add_argument("--url", help="base URL of a running server instead of starting one")
    parser.add_argument("--db-url", help="that server's database (sqlite://path or postgres://…) to count cases in")
    parser.add_argument("--server-pid", type=int, help="that server's process id (for its CPU and peak RSS)")
    parser.add_argument("--config", help="configuration file of the server (default as `mashang`)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir (and server.log)")
    parser.add_argument("--seed", type=int, default=1, help="random seed for texts and retry positions")
    parser.add_argument(
        "--transport-only",
        action="store_true",
        help="calibration: the transport alone, with an inbox that stores nothing (see above)",
    )
    parser.add_argument("--serve-transport-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.url and not args.db_url and not args.transport_only:
        parser.error("--url needs --db-url to count the cases")
    if args.n < 1 or args.c < 1 or args.rate <= 0 or args.duration < 0:
        parser.error("-n, -c and --rate must be positive, --duration not negative")
    return args


def machine_speed_ms() -> float:
    """Milliseconds a fixed pure-Python workload takes here and now (the best of three). Shared machines
    change speed from hour to hour; every figure below scales with this one, so it is printed with them."""
    best = float("inf")
    payload = {"a": list(range(50)), "b": "中文" * 20}
    for _ in range(3):
        began = time.perf_counter()
        total = 0
        for number in range(2_000_000):
            total += number % 7
        for _ in range(20_000):
            json.dumps(payload)
        best = min(best, time.perf_counter() - began)
    return 1000 * best


def serve_transport_only(config_path: str | None) -> int:
    """The calibration server: the real official-account transport in front of an inbox that stores
    nothing and answers every callback at once with an acknowledgement as long as the real one."""
    from aiohttp import web

    from bot.cli.main import run_event_loop, tune_garbage_collector
    from bot.ingest.inbox import Acceptance
    from bot.transport.official_account import OfficialAccountTransport

    config = load_config(config_path)
    acknowledgement = (
        "您反映的问题已收到，查询编号：MS26113000011（联系点：湖州市中心医院）。我们将在2天内交办、1周内答复。"
        "回复编号可查询进展；10分钟内直接继续发送，会补充到这件里。"
    )

    class AnsweringInbox:
        async def accept(self, event: object, budget_s: float) -> Acceptance:
            return Acceptance(acknowledgement, duplicate=False)

    transport = OfficialAccountTransport(
        AnsweringInbox(),  # type: ignore[arg-type]
        token=config.wechat.token,
        app_id=config.wechat.app_id,
        encoding_aes_key=config.wechat.encoding_aes_key,
        accepted_modes=config.wechat.modes(),
        timestamp_tolerance_s=config.wechat.timestamp_tolerance_s,
        passive_reply_budget_s=config.intake.passive_reply_budget_s,
    )

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def serve() -> None:
        app = web.Application(client_max_size=config.server.max_body_bytes)
        app.router.add_post("/wechat/callback", transport.receive)
        app.router.add_get("/healthz", health)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, config.server.host, config.server.port).start()
        await asyncio.Event().wait()

    tune_garbage_collector()
    run_event_loop(serve())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_transport_only:
        return serve_transport_only(args.config)
    cores = os.cpu_count() or 1
    print(f"machine: {cores} cores, load average {load_average()} (1/5/15 min) before the run")
    print(f"machine speed: a fixed pure-Python workload took {machine_speed_ms():.0f} ms (lower is faster)")
    print("note: the load generator runs on the same cores as the server and takes part of them")
    temp_dir: Path | None = None
    server: OwnServer | None = None
    try:
        if args.url:
            base_url, db_url, pid = args.url, args.db_url, args.server_pid
            config = load_config(args.config)
        else:
            temp_dir = Path(tempfile.mkdtemp(prefix="mashang-bench-"))
            server = OwnServer(temp_dir, args.config, transport_only=args.transport_only)
            config = load_config(args.config, environ=server.env)
            started = time.perf_counter()
            server.start()
            assert server.process is not None
            base_url, db_url, pid = server.base_url, server.db_url, server.process.pid
            print(f"server: pid {pid} on {base_url}, data in {temp_dir} ({time.perf_counter() - started:.1f} s)")
        return run(args, config, base_url, db_url, pid)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    finally:
        if server is not None:
            server.stop()
        if temp_dir is not None:
            if args.keep:
                print(f"kept {temp_dir}")
            else:
                shutil.rmtree(temp_dir, ignore_errors=True)


def run(args: argparse.Namespace, config: Config, base_url: str, db_url: str, pid: int | None) -> int:
    rng = random.Random(args.seed)
    factory = CallbackFactory(config, base_url, secrets.token_hex(4))
    clock = time.perf_counter()
    warm = [factory.message(rng) for _ in range(args.warmup)]
    phase1 = factory.sequence(args.n, args.retries, lag=args.c, rng=rng)
    print(
        f"built {len(warm) + len(phase1)} encrypted callbacks in {time.perf_counter() - clock:.2f} s "
        f"(not timed); openids {factory.openid_prefix}*"
    )
    answered: set[int] = set()
    if warm:
        answered |= asyncio.run(closed_loop(base_url, warm, min(args.c, 16))).answered

    print(
        f"\nphase 1, throughput: {args.n} callbacks ({args.n - factory.distinct + len(warm)} retries), "
        f"concurrency {args.c}"
    )
    meter = CpuMeter(pid)
    one = asyncio.run(closed_loop(base_url, phase1, args.c))
    cpu = meter.line(args.n)
    print(f"  {args.n / one.elapsed:,.0f} callbacks/s ({args.n} in {one.elapsed:.2f} s)")
    print(f"  latency {latency_line(one)}")
    print(f"  {answers_line(one)}")
    print(f"  {cpu}")
    print(f"  load average {load_average()}")

    failed = one.non_200 + one.errors
    answered |= one.answered
    if args.duration > 0:
        total = max(1, round(args.rate * args.duration))
        before = factory.distinct
        clock = time.perf_counter()
        phase2 = factory.sequence(total, args.retries, lag=max(1, round(args.rate * 0.1)), rng=rng)
        print(
            f"\nphase 2, latency: {args.rate:g}/s for {args.duration:g} s, open loop "
            f"({total} callbacks, {total - (factory.distinct - before)} retries; "
            f"built in {time.perf_counter() - clock:.2f} s, not timed)"
        )
        meter = CpuMeter(pid)
        two = asyncio.run(open_loop(base_url, phase2, args.rate, pool=max(args.c, 256)))
        cpu = meter.line(total)
        print(
            f"  achieved {total / two.elapsed:,.0f}/s ({total} in {two.elapsed:.2f} s; "
            f"client start lag max {1000 * two.max_lag:.1f} ms)"
        )
        print(f"  latency from the scheduled send {latency_line(two)}")
        print(f"  {answers_line(two)}")
        print(f"  {cpu}")
        print(f"  load average {load_average()}")
        failed += two.non_200 + two.errors
        answered |= two.answered

    if args.transport_only:
        if pid is not None:
            peak = proc_status(pid, "VmHWM")
            print(f"\n  server peak RSS (VmHWM) {peak / 1024 if peak else 0:.0f} MiB")
        print("transport only (calibration): nothing was stored, so no cases are counted")
        if failed:
            print(f"{failed} sends got no 200 answer", file=sys.stderr)
            return 1
        return 0

    print("\nwaiting for background work (inbox rows)…")
    counts, waited = wait_for_background(db_url, factory.openid_prefix, factory.distinct, len(answered), timeout_s=120)
    distinct = factory.distinct
    inbox = ", ".join(f"{status} {n}" for status, n in sorted(counts.inbox.items())) or "none"
    print(f"  settled after {waited:.1f} s")
    print(
        f"  jobs of these cases: {counts.jobs_text()} "
        "(due triage cards wait for the WeCom robot's ~20/min limit; timers run later)"
    )
    print(
        f"  distinct messages sent {distinct} (answered 200: {len(answered)}); cases created {counts.cases}; "
        f"case messages {counts.messages}; inbox rows {counts.inbox_total} ({inbox})"
    )
    if pid is not None:
        peak = proc_status(pid, "VmHWM")
        extra = [
            f"{process_name(child)} {kb / 1024:.0f} MiB"
            for child in child_pids(pid)
            if (kb := proc_status(child, "VmHWM")) is not None
        ]
        peak_text = f"{peak / 1024:.0f} MiB" if peak is not None else "?"
        print(f"  server peak RSS (VmHWM) {peak_text}" + (f"; children: {', '.join(extra)}" if extra else ""))
    ok = counts.cases == distinct and counts.inbox_total == distinct and counts.inbox.get("done", 0) == distinct
    if not ok:
        print("MISMATCH: cases / inbox rows differ from the distinct messages sent", file=sys.stderr)
        if len(answered) < distinct:
            print(
                f"  {distinct - len(answered)} distinct messages never got a 200 (overload: WeChat would retry "
                "them, and give up after three tries)",
                file=sys.stderr,
            )
        return 1
    if failed:
        print(f"{failed} sends got no 200 answer", file=sys.stderr)
        return 1
    print("OK: one case and one inbox row per distinct message")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
