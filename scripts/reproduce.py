"""Rerun the seeds' experiments from examples/*.toml and write REPRODUCTION.md.

Every run takes the steps `deltaprop train --config examples/NAME.toml --threads 1` takes
(the same configuration, data, input scaling, network, optimizer and batches), and records
the test accuracy. Runs are kept, one JSON object a line, in REPRODUCTION.runs.jsonl, so
that seeds can be added a few at a time and the tables rendered again without retraining
(`--render`). A config that differs from a longer one only in its number of epochs is read
off the longer run at that epoch: the first epochs of a run do not depend on how many
follow (constant learning rate, no early stopping).

MNIST comes from `--data-dir DIR` (or `$DELTAPROP_DATA/mnist`, or the user cache); where it
cannot be had, the script says so and trains none of its configs. The tables are written from
the kept runs alone: `--render` does not look for the data, and gives the same bytes on any
machine. A config named in `--only` or `--variant` that the script does not know is an
error naming the ones it knows.

    uv run python scripts/reproduce.py --data-dir ../shared/mnist [--seeds 0-4] [--only NAME,...]
    uv run python scripts/reproduce.py --render
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "REPRODUCTION.runs.jsonl"
DOC = ROOT / "REPRODUCTION.md"
BEGIN, END = "<!-- begin: tables written by scripts/reproduce.py -->", "<!-- end: tables -->"


@dataclass(frozen=True)
class Experiment:
    """One result a seed reports, and the configs that reproduce it: ``faithful`` follows
    the seed's text and code; ``others`` are other readings of the seed and the usual
    setup beside it."""

    what: str
    reported: float
    faithful: str
    others: tuple[str, ...] = ()
    seed_doc: str = "000"


EXPERIMENTS = [
    Experiment("784-10 softmax regression, full-batch GD, lr 0.3, 100 iterations", 0.9052,
               "seed000_softmax_regression"),
    Experiment("784-50-10 sigmoid, full-batch GD, lr 0.3, 500 iterations", 0.928,
               "seed000_sigmoid_gd_500", ("seed000_nolinear_gd_1000@500",)),
    Experiment("784-50-10 sigmoid, full-batch GD, lr 0.3, 1000 iterations", 0.9401,
               "seed000_sigmoid_gd_1000", ("seed000_nolinear_gd_1000",)),
    Experiment("784-50-10 sigmoid, SGD batches of 20, lr 0.3, 30,000 iterations", 0.9655,
               "seed000_sgd", ("seed000_sgd_shuffled", "seed000_nolinear_sgd")),
    Experiment("784-32-10 sigmoid, squared error, SGD batches of 256, 300 epochs", 0.9259,
               "seed001_mnist_mse", ("seed001_mnist_mse_unit",), seed_doc="001"),
    Experiment("10-bit parity, 10-3-2 sigmoid, squared error, SGD batches of 8, lr 0.3, 1000 epochs", 1.0,
               "seed001_parity", seed_doc="001"),
]


# -- configs ------------------------------------------------------------------------------------
#: A variant key the script itself applies (deltaprop's Dense starts its biases at zero):
#: ``seed_biases = S`` draws every bias from S · N(0, 1), as seed 000 (S = 0.1) and seed 001
#: (S = 1) do.
SCRIPT_KEYS = ("seed_biases",)


def config_mapping(name: str) -> dict:
    """The TOML of ``examples/NAME.toml``; ``NAME[key=value,...]`` changes those keys (a
    value is read as TOML, e.g. ``seed000_sgd[dtype="float64"]``)."""
    base, _, changes = name.partition("[")
    mapping = tomllib.loads((ROOT / "examples" / f"{base}.toml").read_text(encoding="utf-8"))
    if changes:
        mapping.update(tomllib.loads(changes.rstrip("]").replace(",", "\n")))
    return mapping


def _config(name: str):
    """The checked TrainConfig of a config name (the script's own keys left out)."""
    from deltaprop.config import TrainConfig

    mapping = config_mapping(name)
    for key in SCRIPT_KEYS:
        mapping.pop(key, None)
    return TrainConfig.from_mapping(mapping)


def split_ref(ref: str) -> tuple[str, int | None]:
    """``"config@500"`` -> ("config", 500): that config's run read at epoch 500."""
    name, _, at = ref.partition("@")
    return name, int(at) if at else None


def run_plan(refs) -> dict[str, tuple[str, int | None]]:
    """Which run gives each config's figure: ``ref -> (config to train, epoch to read or None
    for its end)``. A config equal to a longer one but for ``epochs`` is read off it."""
    from deltaprop.config import TrainConfig

    def key(name):
        mapping = config_mapping(name)
        extra = {k: mapping.pop(k) for k in SCRIPT_KEYS if k in mapping}
        cfg = {**TrainConfig.from_mapping(mapping).as_dict(), **extra}
        cfg.pop("epochs", None)
        return json.dumps(cfg, sort_keys=True)

    names = sorted({split_ref(r)[0] for r in refs if "[" not in r} | {p.stem for p in (ROOT / "examples").glob("seed*.toml")})
    keys = {n: key(n) for n in names}
    plan = {}
    for ref in refs:
        name, at = split_ref(ref)
        cfg = _config(name)
        epochs = at or cfg.epochs
        plan[ref] = (name, at)
        if cfg.steps is not None or cfg.early_stopping or cfg.schedule != "constant" or epochs is None:
            continue
        longer = [n for n in names if keys[n] == keys.get(name, key(name)) and (_config(n).epochs or 0) > epochs]
        if longer:
            longest = max(longer, key=lambda n: _config(n).epochs)
            plan[ref] = (longest, epochs)
    return plan


# -- one run -----------------------------------------------------------------------------------
def _scaled(layer, x, dtype):
    """Rows of ``x`` through the run's input-scaling layer (None: only cast), as the CLI's model does."""
    rows = np.ascontiguousarray(np.asarray(x).reshape(len(x), -1), dtype=dtype)
    if layer is None:
        return rows
    layer.build(rows.shape[1], np.dtype(dtype), None)
    return layer.forward(rows).copy()


def train_once(name: str, seed: int, read_at: set[int], data_dir: str | None = None) -> dict:
    """Train config ``name`` with ``seed`` as `deltaprop train --threads 1` does; the test
    accuracy at the end and after each epoch in ``read_at``. For standardised inputs, also
    the accuracy with the test set standardised by its own mean and deviation (seed 000
    standardises each set with its own statistics)."""
    import deltaprop as dp
    from deltaprop.cli import _input_layer, _load_data
    from deltaprop.config import TrainConfig

    mapping = config_mapping(name)
    bias_scale = mapping.pop("seed_biases", None)
    cfg = TrainConfig.from_mapping(mapping, {"seed": seed, **({"data_dir": data_dir} if data_dir else {})})
    ds = _load_data(cfg.dataset, cfg.data_dir, cfg.seed)
    x_tr, y_tr, x_te, y_te, class_names = ds.x_train, ds.y_train, ds.x_test, ds.y_test, ds.class_names
    if cfg.validation_split:
        raise SystemExit(f"{name}: the seeds' experiments train on the whole training set (validation_split = 0)")
    n_features, n_classes = int(np.prod(x_tr.shape[1:])), len(class_names)
    scaling = _input_layer(cfg.scaling, x_tr)
    X, X_test = _scaled(scaling, x_tr, cfg.dtype), _scaled(scaling, x_te, cfg.dtype)
    X_own = _scaled(_input_layer("standardize", x_te), x_te, cfg.dtype) if cfg.scaling == "standardize" else None
    cfg.layers = cfg.network_sizes(n_features, n_classes)
    net, opt, loss = cfg.build_network(n_features, n_classes), cfg.build_optimizer(), cfg.build_loss()
    if bias_scale is not None:
        biases = np.random.default_rng([seed, 1000])
        for layer in net.layers:
            if isinstance(layer, dp.Dense):
                layer.b.value[...] = bias_scale * biases.standard_normal(layer.n_out)
    accuracy: dict[str, float] = {}
    own: dict[str, float] = {}

    def read(label: str) -> None:
        accuracy[label] = dp.accuracy(y_te, net.predict(X_test))
        if X_own is not None:
            own[label] = dp.accuracy(y_te, net.predict(X_own))

    class ReadAt(dp.Callback):
        def on_epoch_end(self, state):
            if state.epoch in read_at:
                read(str(state.epoch))

    started = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        history = dp.fit(net, X, y_tr, loss=loss, optimizer=opt, epochs=cfg.epochs, steps=cfg.steps,
                         batch_size=None if cfg.batch_size == "full" else cfg.batch_size, batching=cfg.batching,
                         seed=cfg.seed, schedule=cfg.schedule, callbacks=[ReadAt()], threads=1)
    seconds = time.perf_counter() - started
    read("end")
    return {"config": name, "seed": seed, "dataset": cfg.dataset, "epochs": len(history), "steps": history.records[-1]["steps"],
            "accuracy": accuracy, "accuracy_test_own_statistics": own or None, "train_loss": history.records[-1]["loss"],
            "train_loss_by_epoch": [round(r["loss"], 5) for r in history.records] if len(history) <= 1000 else None,
            "seconds": round(seconds, 1), "dtype": cfg.dtype, "threads": 1, **environment()}


def environment() -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = ""
    return {"date": time.strftime("%Y-%m-%d"), "commit": commit, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "python": platform.python_version(), "numpy": np.__version__}


# -- the store of runs ---------------------------------------------------------------------------
@dataclass
class Runs:
    path: Path
    records: list[dict] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> "Runs":
        records = []
        if path.is_file():
            records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return cls(path, records)

    def find(self, config: str, seed: int) -> dict | None:
        found = [r for r in self.records if r["config"] == config and r["seed"] == seed]
        return found[-1] if found else None

    def add(self, record: dict) -> None:
        self.records.append(record)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")

    def commits(self, ref: str, plan) -> list[str]:
        """The commits the runs behind ``ref``'s figures were made at, in seed order, each once."""
        name, at = plan[ref]
        label = str(at) if at is not None else "end"
        by_seed = {r["seed"]: r.get("commit", "") for r in self.records if r["config"] == name and label in r["accuracy"]}
        return list(dict.fromkeys(by_seed[s] for s in sorted(by_seed)))

    def figures(self, ref: str, plan) -> list[tuple[int, float, float | None]]:
        """(seed, test accuracy, accuracy with the test set's own statistics) of every run of ``ref``."""
        name, at = plan[ref]
        label = str(at) if at is not None else "end"
        out = {}
        for r in self.records:
            if r["config"] == name and label in r["accuracy"]:
                own = (r.get("accuracy_test_own_statistics") or {}).get(label)
                out[r["seed"]] = (r["seed"], r["accuracy"][label], own)
        return [out[s] for s in sorted(out)]


# -- rendering -------------------------------------------------------------------------------
def spread(values: list[float]) -> str:
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.4f} (1 seed)"
    sd = statistics.stdev(values)
    return f"{statistics.mean(values):.4f} ± {sd:.4f} ({len(values)} seeds, {min(values):.4f}–{max(values):.4f})"


def render_tables(runs: Runs, plan) -> str:
    """The tables of REPRODUCTION.md from the kept runs alone (a config without runs: "not run yet")."""
    rows = ["| document | experiment | it reports | config | seed 0 | mean ± sd over seeds (range) | gap (points) "
            "| own-statistics test set | commit |",
            "|---|---|---|---|---|---|---|---|---|"]
    for exp in EXPERIMENTS:
        listed = (exp.faithful, *exp.others)
        variants = [r for r in plan if "[" in r and r.partition("[")[0] in listed]
        for i, ref in enumerate((*listed, *variants)):
            figures = runs.figures(ref, plan)
            label = f"**{ref}**" if i == 0 else ref
            first = (exp.seed_doc, exp.what, str(exp.reported)) if i == 0 else ("", "", "")
            if not figures:
                rows.append(f"| {' | '.join(first)} | {label} | not run yet | | | | |")
                continue
            values = [a for _, a, _ in figures]
            own = [o for _, _, o in figures if o is not None]
            seed0 = next((f"{a:.4f}" for s, a, _ in figures if s == 0), "")
            gap = round(100 * (statistics.mean(values) - exp.reported), 2) + 0.0  # no -0.00
            rows.append(f"| {' | '.join(first)} | {label} | {seed0} | {spread(values)} | {gap:+.2f} | "
                        f"{spread(own) if own else ''} | {', '.join(runs.commits(ref, plan))} |")
    seconds = [r["seconds"] for r in runs.records]
    env = runs.records[-1] if runs.records else environment()
    lines = [
        f"Runs: {len(runs.records)}, made with numpy {env['numpy']}, Python {env['python']} on {env['machine']} "
        f"(last on {env['date']}, commit {env['commit']}); {sum(seconds) / 60:.0f} minutes of training in all. "
        "Document: the seed text. **Bold**: the faithful config; seed 0, seeds: training seeds (weights and batch order). "
        "Gap: mean over seeds minus the document's figure, in points. Own-statistics test set: "
        "the same networks scored on a test set standardised with its own mean and deviation, as seed 000 does. "
        "Commit: the commit of deltaprop the row's runs were made at.",
        "",
        *rows,
        "",
        "Each figure is `uv run deltaprop train --config examples/CONFIG.toml --data-dir DIR --seed S --threads 1`; "
        "a config named `CONFIG@N` is the same run read after N epochs; `CONFIG[key=value]` is the config with that key "
        "changed. `seed_biases = S` (biases drawn from S · randn, as the seeds draw them) is no key of `deltaprop train`, "
        "which starts biases at zero: the script applies it itself, and its rows come from "
        "`uv run python scripts/reproduce.py --data-dir DIR --seeds S --variant 'CONFIG[seed_biases=S]'`.",
    ]
    return "\n".join(lines)


def write_doc(runs: Runs, plan, path: Path) -> None:
    tables = render_tables(runs, plan)
    text = path.read_text(encoding="utf-8") if path.is_file() else f"# Reproducing the seeds' experiments\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path} has no '{BEGIN}' ... '{END}' section to fill")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    path.write_text(f"{head}{BEGIN}\n{tables}\n{END}{tail}", encoding="utf-8")


# -- main -----------------------------------------------------------------------------------------
def parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition("-")
        seeds += list(range(int(lo), int(hi or lo) + 1))
    return seeds


def mnist_missing(data_dir: str | None) -> str | None:
    """None if MNIST loads here without a download, else why not."""
    import deltaprop.data as data

    try:
        data.load("mnist", data_dir=data_dir, download=False)
    except Exception as exc:  # report why, in one line
        return str(exc).splitlines()[0]
    return None


def example_names() -> list[str]:
    """The configs in examples/ a variant may start from."""
    return sorted(p.stem for p in (ROOT / "examples").glob("*.toml"))


def selection_error(only: set[str], variants: list[str], refs: list[str]) -> str | None:
    """None if every ``--only`` name is a config the tables list and
    every ``--variant`` is ``CONFIG[key=value,...]`` of a config in examples/ with keys that
    `deltaprop train` or this script reads; else one line naming the first that is not."""
    known = sorted({split_ref(r)[0] for r in refs if "[" not in r})
    unknown = sorted(only - set(known))
    if unknown:
        return f"--only: no config named '{unknown[0]}'; the configs are: {', '.join(known)}"
    for variant in variants:
        base, bracket, rest = variant.partition("[")
        if base not in example_names():
            return f"--variant: no config named '{base}' in examples/; the configs are: {', '.join(example_names())}"
        if not bracket or not rest.endswith("]"):
            return f"--variant: '{variant}' is not CONFIG[key=value], e.g. {base}[dtype=\"float64\"]"
        try:
            _config(variant)
        except Exception as exc:  # a bad key or value: the config's own message, in one line
            return f"--variant: '{variant}': {str(exc).splitlines()[0]}"
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None, help="folder with the MNIST files (default: $DELTAPROP_DATA/mnist, the cache)")
    ap.add_argument("--seeds", default="0", help="seeds to run, e.g. 0-4 or 0,2 (default 0)")
    ap.add_argument("--only", default="", help="comma-separated config names to run")
    ap.add_argument("--variant", action="append", default=[], metavar='NAME[key=value]',
                    help='also run a config with keys changed, e.g. seed000_sgd[dtype="float64"] (repeatable)')
    ap.add_argument("--render", action="store_true", help="only write the tables from the stored runs")
    ap.add_argument("--runs", default=str(RUNS), help="the JSON-lines store of runs")
    ap.add_argument("--output", default=str(DOC))
    args = ap.parse_args(argv)
    refs = [ref for exp in EXPERIMENTS for ref in (exp.faithful, *exp.others)]
    only = set(filter(None, args.only.split(",")))
    error = selection_error(only, list(args.variant), refs)
    if error:
        print(f"reproduce.py: {error}", file=sys.stderr)
        return 2
    refs += list(args.variant)
    refs += sorted({r["config"] for r in Runs.load(Path(args.runs)).records if "[" in r["config"]} - set(refs))
    plan = run_plan(refs)
    runs = Runs.load(Path(args.runs))
    if not args.render:
        todo: dict[str, set[int]] = {}
        for ref in refs:
            name, at = plan[ref]
            if not only or ref in args.variant or split_ref(ref)[0] in only or name in only:
                todo.setdefault(name, set()).update({at} if at else set())
        pending = [(seed, name) for seed in parse_seeds(args.seeds) for name in todo if runs.find(name, seed) is None]
        on_mnist = [f"{name} seed {seed}" for seed, name in pending if config_mapping(name)["dataset"] == "mnist"]
        missing = mnist_missing(args.data_dir) if on_mnist else None
        if missing:  # trains nothing: a run asked for and skipped would leave the tables as they were, exit 0
            runs_named = on_mnist[0] if len(on_mnist) == 1 else f"{len(on_mnist)} runs ({on_mnist[0]}, ...)"
            verb = "needs" if len(on_mnist) == 1 else "need"
            print(f"reproduce.py: {runs_named} {verb} MNIST, which is not available ({missing}); "
                  "give --data-dir the folder that holds its four IDX files, or --render for the tables from the kept runs",
                  file=sys.stderr)
            return 1
        for seed, name in pending:
            record = train_once(name, seed, todo[name], args.data_dir)
            runs.add(record)
            print(f"{name} seed {seed}: {record['accuracy']} ({record['seconds']:.0f} s)", flush=True)
    write_doc(runs, plan, Path(args.output))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
