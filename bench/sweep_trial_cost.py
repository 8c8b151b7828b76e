"""What a sweep trial's own process costs: one small trial trained by ``run_trial`` (a
``deltaprop train`` process, as a sweep's worker runs it) against ``deltaprop train`` called
in this process (as a worker ran it before, with Python, NumPy and Matplotlib already loaded).

    uv run python bench/sweep_trial_cost.py --rounds 7

The trial: parity (10 inputs), a 10-3-2 network, --epochs 1, batch 16. The two forms are
alternated round by round (round 0 a warm-up) and the median of each is reported; their
difference is the price of a trial's process, the same for a trial of any length.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from deltaprop.cli import main
from deltaprop.sweep_trial import run_trial


def in_process(config: str, folder: Path) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(["train", "--quiet", "--out", str(folder), "--threads", "1", "--overwrite", "--config", config])


def own_process(config: str, folder: Path) -> int:
    return run_trial(config, {}, str(folder))["exit"]


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "parity.toml"
        config.write_text('dataset = "parity"\nlayers = [10, 3, 2]\nepochs = 1\nbatch_size = 16\n')
        times: dict[str, list[float]] = {"in process": [], "own process": []}
        for r in range(args.rounds + 1):
            for name, run in (("in process", in_process), ("own process", own_process)):
                folder = Path(tmp) / f"{name.replace(' ', '-')}-{r}"
                started = time.perf_counter()
                if run(str(config), folder) != 0:
                    raise SystemExit(f"the {name} trial failed")
                if r:
                    times[name].append(time.perf_counter() - started)
                shutil.rmtree(folder)
    for name, seconds in times.items():
        print(f"{name:12s} median {statistics.median(seconds):.2f} s (min {min(seconds):.2f}, max {max(seconds):.2f})")
    cost = statistics.median(times["own process"]) - statistics.median(times["in process"])
    print(f"a trial's own process costs {cost:.2f} s")


if __name__ == "__main__":
    main_bench()
