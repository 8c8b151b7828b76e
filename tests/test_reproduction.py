"""The seeds' experiments: every example config is valid and builds what its seed built
(seed 000's softmax over sigmoid outputs, its sliding batch windows, seed 001's
standard-normal weights), the reproduction script trains exactly as the CLI does, and the
slow end-to-end runs reach the accuracy they should."""

import tomllib
from pathlib import Path

import numpy as np
import pytest

from reproduce_script import load_reproduce

import deltaprop as dp
import deltaprop.data as data
from deltaprop.config import TrainConfig
from deltaprop.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CONFIGS = sorted(EXAMPLES.glob("*.toml"))
FASHION = Path("/usr/share/datasets/fashion-mnist")


_reproduce = load_reproduce


def test_there_is_a_config_for_every_seed_experiment():
    names = {p.stem for p in CONFIGS}
    assert {"seed000_softmax_regression", "seed000_sigmoid_gd_500", "seed000_sigmoid_gd_1000",
            "seed000_sgd", "seed001_parity", "seed001_mnist_mse"} <= names
    reproduce = _reproduce()
    for exp in reproduce.EXPERIMENTS:  # and every config the script reports exists
        for ref in (exp.faithful, *exp.others):
            assert (EXAMPLES / f"{reproduce.split_ref(ref)[0]}.toml").is_file(), ref


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_example_config_is_valid(path):
    raw = tomllib.loads(path.read_text())
    cfg = TrainConfig.from_mapping(raw, origin=path.name)
    assert cfg.dataset == raw["dataset"]
    assert cfg.layers == raw["layers"]


def _layers(name: str) -> list[str]:
    cfg = TrainConfig.from_mapping(tomllib.loads((EXAMPLES / f"{name}.toml").read_text()))
    return [type(layer).__name__ for layer in cfg.build_network(cfg.layers[0], cfg.layers[-1]).layers]


def test_seed_configs_build_the_seeds_networks():
    linear = ["Dense", "Sigmoid", "Dense", "Softmax"]  # the seed's buildNetworkArchitectureWithOneHiddenSigmoids
    assert _layers("seed000_sigmoid_gd_1000") == linear and _layers("seed000_sgd") == linear
    assert _layers("seed000_nolinear_gd_1000") == ["Dense", "Sigmoid", "Dense", "Sigmoid", "Softmax"]
    assert _layers("seed000_softmax_regression") == ["Dense", "Softmax"]
    seed001 = TrainConfig.from_mapping(tomllib.loads((EXAMPLES / "seed001_mnist_mse.toml").read_text()))
    assert (seed001.lr, seed001.scaling, seed001.init, seed001.batch_size) == (0.3, "none", "scaled_normal(1)", 256)
    W = seed001.build_network(784, 10).layers[0].W.value
    assert abs(float(W.std()) - 1.0) < 0.01  # randn, as the seed's random_weights_biases(sigma=1)


# -- seed 000's softmax over sigmoid outputs -------------------------------------------------------
def test_softmax_over_sigmoid_outputs_has_the_seeds_delta():
    """Seed 000's backwardPass: δ^{L-1} = σ'(z) ⊙ (o^L − y), averaged over the batch."""
    net = dp.mlp([6, 5, 4], activation="sigmoid", output="sigmoid+softmax", init="scaled_normal", seed=1, dtype="float64")
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((7, 6)), rng.integers(0, 4, 7)
    net.loss_and_gradients(dp.CrossEntropy(), X, y)
    hidden = 1 / (1 + np.exp(-(X @ net.layers[0].W.value + net.layers[0].b.value)))
    o = 1 / (1 + np.exp(-(hidden @ net.layers[2].W.value + net.layers[2].b.value)))
    p = np.exp(o) / np.exp(o).sum(axis=1, keepdims=True)
    delta = o * (1 - o) * (p - np.eye(4)[y]) / len(X)
    np.testing.assert_allclose(net.layers[2].W.grad, hidden.T @ delta, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(net.layers[2].b.grad, delta.sum(axis=0), rtol=1e-12, atol=1e-15)
    report = dp.gradcheck(net, dp.CrossEntropy(), X, y)
    assert report.max_relative_error < 1e-6


def test_output_stacks_in_the_config_and_their_errors():
    assert TrainConfig.from_mapping({"output": "Sigmoid + Softmax"}).output == "sigmoid+softmax"
    with pytest.raises(ConfigError, match="sigmoid\\+softmax"):
        TrainConfig.from_mapping({"output": "sigmoid+softmx"})
    assert TrainConfig.from_mapping({"init": "scaled_normal(1)"}).init == "scaled_normal(1)"
    with pytest.raises(ConfigError, match="scaled_normal"):
        TrainConfig.from_mapping({"init": "scaled_normal(zero)"})


# -- seed 000's sliding windows ------------------------------------------------------------------
def test_sliding_windows_are_the_seeds_julia_ranges():
    from deltaprop.training import SlidingWindows

    n, b = 60_000, 20
    Y = np.zeros((n, 1))
    source = SlidingWindows(np.zeros((n, 2)), Y, None, b)
    assert source.start_epoch(np.random.default_rng(0)) == 3000
    for i in (1, 2, 2999, 3000):  # minibatch = collect(20i:20i+20) % 60000 + 1, 1-based
        julia = [(v % n) + 1 for v in range(b * i, b * i + b + 1)]
        assert (source.indices(i - 1) + 1).tolist() == julia
    uneven = SlidingWindows(np.zeros((7, 1)), np.zeros((7, 1)), None, 3)
    assert uneven.start_epoch(None) == 3
    assert [uneven.indices(k).tolist() for k in range(3)] == [[3, 4, 5, 6], [6, 0, 1, 2], [2, 3, 4, 5]]


def test_fit_with_sliding_batches_matches_the_seeds_loop():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((48, 6)).astype(np.float32), rng.integers(0, 3, 48)  # 4 divides 48, as 20 does 60,000
    make = lambda: dp.mlp([6, 5, 3], init="scaled_normal", seed=3)  # noqa: E731
    net, by_hand = make(), make()
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.3), batch_size=4, batching="sliding", steps=30)
    opt, loss = dp.SGD(lr=0.3), dp.CrossEntropy()
    opt.build(by_hand.parameters())
    for i in range(1, 31):  # the seed's SGD loop, across epoch ends
        rows = (4 * i + np.arange(5)) % 48
        by_hand.loss_and_gradients(loss, X[rows], y[rows])
        opt.step()
    for mine, theirs in zip(net.parameters(), by_hand.parameters()):
        np.testing.assert_array_equal(mine.value, theirs.value)
    assert history.records[-1]["steps"] == 30


def test_batching_choices_and_their_errors():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((12, 3)), rng.integers(0, 2, 12)
    net = dp.mlp([3, 2], seed=0)
    seq = dp.mlp([3, 2], seed=0)
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), batch_size=5, batching="sequential", epochs=2, seed=1)
    dp.fit(seq, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), batch_size=5, shuffle=False, epochs=2, seed=2)
    np.testing.assert_array_equal(net.layers[0].W.value, seq.layers[0].W.value)  # no shuffling, whatever the seed
    for bad, match in (({"batching": "windows"}, "shuffled, sequential, sliding"),
                       ({"batching": "shuffled", "shuffle": False}, "shuffle")):
        kwargs = {"batch_size": 5, **bad}
        with pytest.raises(ConfigError, match=match):
            dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=1, **kwargs)
    assert TrainConfig.from_mapping({"batching": "Sliding"}).batching == "sliding"


@pytest.mark.slow
def test_cli_trains_with_sliding_batches_and_a_softmax_over_sigmoids(tmp_path, capsys):
    from deltaprop.cli import main

    code = main(["train", "--dataset", "parity", "--layers", "10,4,2", "--output-activation", "sigmoid+softmax",
                 "--batching", "sliding", "--batch-size", "8", "--steps", "20", "--quiet", "--out", str(tmp_path)])
    assert code == 0
    config = tomllib.loads((tmp_path / "config.toml").read_text())
    assert config["batching"] == "sliding" and config["output"] == "sigmoid+softmax"
    assert "test accuracy" in capsys.readouterr().out


# -- the reproduction script -------------------------------------------------------------------
def test_shorter_full_batch_runs_are_read_off_the_longer_one():
    reproduce = _reproduce()
    plan = reproduce.run_plan(["seed000_sigmoid_gd_500", "seed000_sigmoid_gd_1000", "seed000_sgd",
                               "seed000_nolinear_gd_1000@500"])
    assert plan["seed000_sigmoid_gd_500"] == ("seed000_sigmoid_gd_1000", 500)
    assert plan["seed000_sigmoid_gd_1000"] == ("seed000_sigmoid_gd_1000", None)
    assert plan["seed000_sgd"] == ("seed000_sgd", None)
    assert plan["seed000_nolinear_gd_1000@500"] == ("seed000_nolinear_gd_1000", 500)
    assert reproduce.parse_seeds("0-2,5") == [0, 1, 2, 5]


@pytest.mark.slow
def test_the_script_trains_as_the_cli_does(tmp_path, monkeypatch, capsys):
    """The same config and seed through `deltaprop train --threads 1` and the script give
    the same test accuracy (here seed 000's SGD config on the bundled sample, shortened)."""
    import json

    from deltaprop.cli import main

    reproduce = _reproduce()
    config = tomllib.loads((EXAMPLES / "seed000_sgd.toml").read_text())
    config.update(dataset="mnist-sample", steps=300)
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "short.toml").write_text("\n".join(f"{k} = {json.dumps(v)}" for k, v in config.items()))
    monkeypatch.setattr(reproduce, "ROOT", tmp_path)
    record = reproduce.train_once("short", 2, set())
    code = main(["train", "--config", str(tmp_path / "examples" / "short.toml"), "--seed", "2", "--threads", "1",
                 "--quiet", "--out", str(tmp_path / "run")])
    assert code == 0
    assert f"test accuracy {record['accuracy']['end']:.4f} on 1000 examples" in capsys.readouterr().out
    assert record["steps"] == 300 and record["accuracy_test_own_statistics"]["end"] > 0.5


# -- slow end-to-end runs ---------------------------------------------------------------------
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


def test_an_unknown_config_or_variant_is_one_line_naming_the_known_ones(tmp_path, capsys):
    reproduce = _reproduce()
    runs, output = tmp_path / "runs.jsonl", tmp_path / "out.md"
    for argv, named, listed in ((["--only", "seed000_sdg"], "'seed000_sdg'", "seed000_sgd, seed000_sgd_shuffled"),
                                (["--only", "seed000_sgd,seed001_paritty"], "'seed001_paritty'", "seed001_parity"),
                                (["--variant", 'seed000_sdg[dtype="float64"]'], "'seed000_sdg'", "seed000_sgd"),
                                (["--variant", 'seed000_sgd[dtyp="float64"]'], "dtyp", "seed000_sgd"),
                                (["--variant", "seed000_sgd"], "CONFIG[key=value]", "seed000_sgd")):
        assert reproduce.main([*argv, "--runs", str(runs), "--output", str(output)]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and named in err and listed in err, (argv, err)
    assert not runs.exists() and not output.exists()  # nothing trained, nothing written
    refs = [ref for exp in reproduce.EXPERIMENTS for ref in (exp.faithful, *exp.others)]
    for only in ({"seed000_sgd"}, {"seed000_nolinear_gd_1000"}, {"seed000_sigmoid_gd_500"}):
        assert reproduce.selection_error(only, ['seed000_sgd[seed_biases=0.1]'], refs) is None


def test_render_writes_the_same_bytes_without_the_data(tmp_path, monkeypatch):
    """`--render` builds the tables from the kept runs alone: it never looks for MNIST, so a
    machine without the files writes REPRODUCTION.md byte for byte as it is."""
    import shutil

    reproduce = _reproduce()
    doc = tmp_path / "REPRODUCTION.md"
    shutil.copyfile(reproduce.DOC, doc)

    def looked_for_data(*args, **kwargs):
        raise AssertionError("--render looked for the MNIST files")

    monkeypatch.setattr(reproduce, "mnist_missing", looked_for_data)
    monkeypatch.setenv("DELTAPROP_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "no-cache"))
    assert reproduce.main(["--render", "--output", str(doc)]) == 0
    assert doc.read_bytes() == reproduce.DOC.read_bytes()
