"""Benchmark: render N A4 PNG posters for synthetic contact points into a zip with the batch helper.

    .venv/bin/python scripts/bench_posters.py                 # 1,000 posters, 2 worker processes
    .venv/bin/python scripts/bench_posters.py -n 200 --kind thread --workers 2

Prints total seconds, posters per second and peak RSS (this process and its workers).
Target: 1,000 posters in under 60 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from qr.batch import render_posters_zip
from qr.posters import PosterSpec
from qr.scenes import oa_scene

DISTRICTS = [
    "上城区",
    "拱墅区",
    "西湖区",
    "滨江区",
    "萧山区",
    "余杭区",
    "临平区",
    "钱塘区",
    "富阳区",
    "临安区",
]
KINDS = [
    ("hospital", "人民医院"),
    ("school", "实验小学"),
    ("community", "社区服务中心"),
    ("market", "农贸市场"),
    ("station", "便民服务站"),
    ("park", "产业园区党群服务中心"),
]


def synthetic_specs(n: int, size: str = "a4") -> list[PosterSpec]:
    specs = []
    for i in range(n):
        district = DISTRICTS[i % len(DISTRICTS)]
        kind_key, kind_name = KINDS[i % len(KINDS)]
        key = f"{kind_key}-{i:05d}"
        # The URL of an official-account parametric code is ~45 characters; vary it per poster.
        payload = f"http://weixin.qq.com/q/02{i:08d}{oa_scene(key).encode().hex()[:14]}"
        specs.append(
            PosterSpec(
                committee_name=f"中国人民政治协商会议杭州市{district}委员会",
                contact_point_name=f"{district}第{i % 9 + 1}{kind_name}（第{i}号联系点）",
                contact_point_key=key,
                payload=payload,
                size="a5" if size == "a5" else "a4",
            )
        )
    return specs


def peak_rss_mib() -> tuple[float, float]:
    """Peak RSS of this process and of the largest finished child (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--count", type=int, default=1000, help="number of posters (default 1000)")
    parser.add_argument("--workers", type=int, default=2, help="worker count (default 2)")
    parser.add_argument("--kind", choices=["process", "thread"], default="process", help="worker kind")
    parser.add_argument("--format", choices=["png", "pdf"], default="png")
    parser.add_argument("--size", choices=["a4", "a5"], default="a4")
    parser.add_argument("--font", default=None, help="font file (default: search for a CJK font)")
    parser.add_argument("--out", default=None, help="zip path (default: a temporary file, deleted)")
    args = parser.parse_args(argv)

    specs = synthetic_specs(args.count, args.size)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "posters.zip"
        last_report = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last_report[0] >= 5 or done == total:
                last_report[0] = now
                print(f"  {done}/{total}", file=sys.stderr, flush=True)

        start = time.monotonic()
        render_posters_zip(specs, args.format, args.font, out, progress, args.workers, args.kind)
        elapsed = time.monotonic() - start
        size_mib = out.stat().st_size / 2**20

    own, children = peak_rss_mib()
    what = f"{args.count} {args.size.upper()} {args.format.upper()} posters"
    what += f", {args.workers} {args.kind} worker(s)"
    print(f"{what}: {elapsed:.1f} s total, {args.count / elapsed:.1f} posters/s, zip {size_mib:.0f} MiB")
    if args.kind == "process" and args.workers > 1:
        print(f"peak RSS: main process {own:.0f} MiB, largest worker process {children:.0f} MiB")
    else:
        print(f"peak RSS: {own:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
