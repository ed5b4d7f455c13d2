"""Speed-up of --jobs on twenty example cases (check and bundle, 1 vs 2 jobs).

    .venv/bin/python benchmarks/jobs.py [--cases 20] [--runs 3]

Copies the three complete examples into 20 case folders (distinct case ids), then times
`opinionkit check` and `opinionkit bundle` over all of them with --jobs 1 and --jobs 2,
interleaved, several runs each, and prints medians and the speed-up.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ["lung-international", "paediatric-all", "sarcoma-adult"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cases", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1790000000"}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cases = []
        for i in range(args.cases):
            dst = work / f"case{i:02d}"
            shutil.copytree(ROOT / "examples" / EXAMPLES[i % 3], dst)
            text = (dst / "case.yaml").read_text()
            (dst / "case.yaml").write_text(
                re.sub(r"case_id: \S+", f"case_id: J-{i:03d}", text, count=1)
            )
            cases.append(str(dst / "case.yaml"))
        times: dict[str, list[float]] = {}
        for _ in range(args.runs):
            for cmd in ("check", "bundle"):
                for jobs in (1, 2):
                    extra = ["--out", str(work / "out"), "--force"] if cmd == "bundle" else []
                    argv = [
                        sys.executable,
                        "-m",
                        "opinionkit",
                        cmd,
                        *cases,
                        *extra,
                        "--jobs",
                        str(jobs),
                        "--format",
                        "json",
                        "--today",
                        "2026-11-24",
                    ]
                    start = time.perf_counter()
                    proc = subprocess.run(argv, capture_output=True, env=env)
                    elapsed = time.perf_counter() - start
                    if proc.returncode != 0:
                        raise SystemExit(proc.stderr.decode()[-2000:])
                    times.setdefault(f"{cmd} --jobs {jobs}", []).append(elapsed)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{args.cases} cases, {args.runs} runs each (median), {os.cpu_count()} CPUs")
    for k, v in med.items():
        print(f"{k:18} {v:6.2f} s")
    for cmd in ("check", "bundle"):
        print(
            f"{cmd}: speed-up from 1 to 2 jobs {med[f'{cmd} --jobs 1'] / med[f'{cmd} --jobs 2']:.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
