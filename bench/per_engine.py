"""The command line of a benchmark that measures each engine of the test bed in turn and writes
its table (Markdown, printed too) and its figures (JSON) under bench/results/."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tests.bed import BedEngine, bed_engines

ROOT = Path(__file__).resolve().parents[1]


def run_per_engine(
    name: str,
    measure: Callable[[BedEngine, int, float], Mapping[str, Any]],
    markdown: Callable[[Any], str],
    *,
    engines: str = "e28,e20",
    rounds: int = 3,
    seconds: float = 10.0,
) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engines", default=engines)
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--seconds", type=float, default=seconds)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for bed in bed_engines():
        if bed.name not in args.engines.split(","):
            continue
        res = measure(bed, args.rounds, args.seconds)
        md = markdown(res)
        print(md)
        (out / f"{name}-{bed.name}.md").write_text(md)
        (out / f"{name}-{bed.name}.json").write_text(json.dumps(res, indent=2) + "\n")
