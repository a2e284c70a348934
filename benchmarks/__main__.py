"""Run every benchmark and write benchmarks/RESULTS.md: `python -m benchmarks` (`make bench`).

    python -m benchmarks [--only startup,scheduler,jobs,throughput,rush,broadcast,profile]
                         [--runs 3] [--paced-recipients 1000] [--raw-recipients 10000]
                         [--rush-people 2000] [--out FILE]

Every figure is the median of `--runs` runs (at least 3 by default). Nothing here fails on a
slow result: the report says which targets were met.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import broadcast, jobs_stall, profile_burst, rush, scheduler, startup, throughput
from benchmarks.common import ROOT, log, machine
from benchmarks.report import render

PARTS = ("startup", "scheduler", "jobs", "throughput", "rush", "broadcast", "profile")


async def run_all(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine(), "args": vars(args) | {"out": str(args.out)}}
    began = time.monotonic()
    for part in args.only:
        log(f"--- {part}")
        started = time.monotonic()
        if part == "startup":
            results[part] = await startup.run(runs=max(args.runs, 5))
        elif part == "scheduler":
            results[part] = await scheduler.run(runs=args.runs)
        elif part == "jobs":
            results[part] = await jobs_stall.run(runs=args.runs)
        elif part == "throughput":
            results[part] = await throughput.run(runs=args.runs)
        elif part == "rush":
            results[part] = await rush.run(people=args.rush_people)
        elif part == "profile":
            results[part] = await profile_burst.run(top=25)
        elif part == "broadcast":
            results[part] = await broadcast.run(
                runs=args.runs,
                paced_recipients=args.paced_recipients,
                raw_recipients=args.raw_recipients,
            )
        results.setdefault("seconds", {})[part] = time.monotonic() - started
    results["total_seconds"] = time.monotonic() - began
    chaos = ROOT / "benchmarks" / "chaos-results.json"
    if chaos.exists():  # the last full crash suite (`make chaos`), reported beside the rest
        results["chaos"] = json.loads(chaos.read_text(encoding="utf-8"))
    search = ROOT / "benchmarks" / "search-results.json"
    if search.exists():  # the last run of benchmarks/search_bench.py, on both databases
        results["search"] = json.loads(search.read_text(encoding="utf-8"))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--only",
        type=lambda value: [part.strip() for part in value.split(",") if part.strip()],
        default=list(PARTS),
        help="comma-separated parts to run: " + ", ".join(PARTS),
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    # 1,000 rather than 2,000: each paced run takes recipients / 29 seconds, and three runs of
    # 2,000 (3.5 minutes) would leave too little of the 10-minute budget of `make bench`.
    parser.add_argument("--paced-recipients", type=int, default=1000)
    parser.add_argument("--raw-recipients", type=int, default=10_000)
    parser.add_argument("--rush-people", type=int, default=rush.PEOPLE)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw figures")
    args = parser.parse_args(argv)
    unknown = [part for part in args.only if part not in PARTS]
    if unknown:
        parser.error(f"unknown part(s): {', '.join(unknown)}")
    results = asyncio.run(run_all(args))
    args.out.write_text(render(results), encoding="utf-8")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    log(f"wrote {args.out} after {results['total_seconds'] / 60:.1f} minutes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
