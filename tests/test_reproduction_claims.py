"""What REPRODUCTION.md and the seed configs say is true: its tables are what
scripts/reproduce.py writes from the kept runs, every `CONFIG[key=value]` it lists is a
key `deltaprop train` reads or one the doc says only the script applies, and the seed 001
configs draw their weights as the article's code does."""

import re
import tomllib
from pathlib import Path

import pytest

from reproduce_script import load_reproduce

from deltaprop.config import TrainConfig
from deltaprop.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "REPRODUCTION.md"


@pytest.fixture(scope="module")
def reproduce():
    return load_reproduce()


def _tables(text: str, reproduce) -> str:
    return text.split(reproduce.BEGIN, 1)[1].split(reproduce.END, 1)[0].strip("\n")


def test_the_tables_are_what_the_script_writes_from_the_kept_runs(reproduce):
    runs = reproduce.Runs.load(reproduce.RUNS)
    refs = [ref for exp in reproduce.EXPERIMENTS for ref in (exp.faithful, *exp.others)]
    refs += sorted({r["config"] for r in runs.records if "[" in r["config"]} - set(refs))
    written = reproduce.render_tables(runs, reproduce.run_plan(refs))
    assert _tables(DOC.read_text(encoding="utf-8"), reproduce) == written


def test_every_variant_key_is_read_by_train_or_said_to_be_the_scripts(reproduce):
    text = DOC.read_text(encoding="utf-8")
    variants = set(re.findall(r"\| (seed\d{3}_\w+)\[(\w+)=([^\]]+)\] \|", text))
    assert variants, "the tables list no CONFIG[key=value] rows"
    for base, key, value in sorted(variants):
        mapping = tomllib.loads((ROOT / "examples" / f"{base}.toml").read_text(encoding="utf-8"))
        mapping[key] = tomllib.loads(f"v = {value}")["v"]
        if key not in reproduce.SCRIPT_KEYS:
            TrainConfig.from_mapping(mapping)  # `deltaprop train --config` takes it
            continue
        with pytest.raises(ConfigError, match=f"unknown key '{key}'"):
            TrainConfig.from_mapping(mapping)
        said = f"`{key} = S` (biases drawn from S · randn, as the seeds draw them) is no key of `deltaprop train`"
        assert said in text and f"--variant 'CONFIG[{key}=S]'" in text


@pytest.mark.parametrize("name", ["seed001_mnist_mse", "seed001_parity"])
def test_seed001_configs_draw_weights_as_the_articles_code(name):
    """`random_weights_biases(sigma=1)`: standard normal weights (the biases start at zero)."""
    path = ROOT / "examples" / f"{name}.toml"
    cfg = TrainConfig.from_mapping(tomllib.loads(path.read_text(encoding="utf-8")))
    assert cfg.init == "scaled_normal(1)"
    assert "randn" in path.read_text(encoding="utf-8")
