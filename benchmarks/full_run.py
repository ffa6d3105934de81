"""Wall time and peak memory of a full conformance run (on demand; not part of the tests).

    python benchmarks/full_run.py [--repeat 3] [--jobs 8] [-- extra mailharness run args]

With no target arguments it runs against the embedded reference server.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("extra", nargs="*")
    args = parser.parse_args()
    walls = []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "harness", "run", "-q", "--jobs", str(args.jobs),
                                   "--out", out, *args.extra], capture_output=True, text=True)
            wall = time.perf_counter() - t0
            summary = json.loads((Path(out) / "results.json").read_text())["summary"]
        walls.append(wall)
        print(f"run {i + 1}: {wall:.2f} s wall, exit {proc.returncode}, {summary['total']} checks "
              f"({summary['passed']} passed, {summary['failed']} failed, {summary['errors']} errors, "
              f"{summary['skipped']} skipped)")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"median {statistics.median(walls):.2f} s, min {min(walls):.2f} s; peak RSS of a run {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
