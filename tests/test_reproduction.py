"""The seeds' experiments: every example config is valid, and the slow end-to-end runs
reach the accuracy they should (floors measured, then rounded down with margin)."""

import tomllib
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
import deltaprop.data as data
from deltaprop.config import TrainConfig

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CONFIGS = sorted(EXAMPLES.glob("*.toml"))
FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_there_is_a_config_for_every_seed_experiment():
    names = {p.stem for p in CONFIGS}
    assert {"seed000_softmax_regression", "seed000_sigmoid_gd_500", "seed000_sigmoid_gd_1000",
            "seed000_sgd", "seed001_parity", "seed001_mnist_mse"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_example_config_is_valid(path):
    raw = tomllib.loads(path.read_text())
    cfg = TrainConfig.from_mapping(raw, origin=path.name)
    assert cfg.dataset == raw["dataset"]
    assert cfg.layers == raw["layers"]


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian package dataset-fashion-mnist is not installed")
def test_seed000_sgd_network_on_fashion_mnist_reaches_its_floor():
    """Seed 000's SGD network (784-50-10 sigmoid + softmax, batches of 20, lr 0.3, weights
    0.1·randn, standardised inputs) for 3,000 steps. Measured 0.847-0.848 over seeds 0-2."""
    ds = data.load("fashion-mnist", flatten=True)
    scaler = data.Standardizer("global").fit(ds.x_train.astype(np.float32))
    x_train = scaler.transform(ds.x_train.astype(np.float32))
    x_test = scaler.transform(ds.x_test.astype(np.float32))
    net = dp.mlp([784, 50, 10], activation="sigmoid", init="scaled_normal", seed=0)
    dp.fit(net, x_train, ds.y_train, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.3), batch_size=20, steps=3000, seed=0)
    assert dp.accuracy(ds.y_test, net.predict(x_test)) >= 0.82


@pytest.mark.slow
def test_seed001_parity_config_runs_from_the_cli_and_matches_the_seed(tmp_path, capsys):
    from deltaprop.cli import main

    code = main(["train", "--config", str(EXAMPLES / "seed001_parity.toml"), "--out", str(tmp_path), "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "test accuracy 1.0000 on 324 examples" in out
