"""Review of the day's fixes: what a user of them would still have hit."""

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.serialization import read_model


def _multi_hot(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    return X, (X[:, :3] > 0).astype(np.float32)  # three independent 0/1 labels a row


def test_a_multi_label_binary_cross_entropy_fit_is_no_regressor(tmp_path):
    """Rows of several 1s are labels, not values: predict gave their probabilities and the
    saved file recorded the network as a MeanSquaredError(classification=False) regressor."""
    X, Y = _multi_hot()
    net = dp.mlp([4, 6, 3], activation="tanh", output="sigmoid", seed=0)
    dp.fit(net, X, Y, loss=dp.BinaryCrossEntropy(), optimizer=dp.SGD(lr=0.3), epochs=2, batch_size=20, seed=0)
    assert not net.gives_values
    assert net.multilabel and net.predict(X).shape == (len(X), 3)  # each row's labels, no argmax
    mf = read_model(dp.save(net, tmp_path / "m.safetensors"))
    assert mf.outputs != "values" and not isinstance(mf.loss, dp.MeanSquaredError)


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_dark_8_bit_images_scaled_by_auto_are_not_told_to_use_auto(tmp_path):
    """scaling auto chooses 'unit' for 8-bit images reaching above 16; where they reach
    under a quarter of 255 the warning told a default run to 'use scaling auto', which it did."""
    from cli_in_process import run_cli

    rng = np.random.default_rng(0)
    x = rng.integers(0, 41, size=(40, 8, 8)).astype(np.uint8)  # levels 0..40: dark images
    np.savez(tmp_path / "dark.npz", x=x, y=np.arange(40) % 2)
    res = run_cli("train", "--dataset", tmp_path / "dark.npz", "--epochs", "1", "--out", tmp_path / "r", "-q")
    assert res.returncode == 0, res.stderr
    assert "scaling auto took these inputs for 8-bit images and chose 'unit'" in res.stderr
    assert "use scaling standardize instead" in res.stderr and "use scaling auto" not in res.stderr


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_a_plateau_note_after_a_default_split_that_held_no_row_asks_for_one_that_does(tmp_path):
    """The default validation split 0.1 of a small file holds out no row: the plateau note
    said 'validation split 0' and to 'give a validation split above 0', which 0.1 was."""
    from cli_in_process import run_cli

    rows = [f"{a},{b},{c}" for a, b, c in [(0.1, 0.2, 0), (0.3, 0.1, 1), (0.5, 0.9, 2)] * 4]
    (tmp_path / "small.csv").write_text("x1,x2,label\n" + "\n".join(rows) + "\n")
    res = run_cli("train", "--dataset", tmp_path / "small.csv", "--schedule", "plateau", "--epochs", "1",
                  "--out", tmp_path / "r", "-q")
    assert res.returncode == 0, res.stderr
    assert "the default --validation-split 0.1" in res.stderr  # the note that says why no row was held out
    assert "the plateau schedule monitors val_loss, but this run holds out no validation rows" in res.stderr
    assert "(validation split 0)" not in res.stderr and "above 0" not in res.stderr


def test_a_config_key_batch_is_offered_batch_size_not_batching(tmp_path):
    """`batch = 10` was asked 'did you mean 'batching'?', the batch order, which then refuses 10."""
    from cli_in_process import run_cli

    config = tmp_path / "c.toml"
    config.write_text('dataset = "parity"\nbatch = 10\n')
    res = run_cli("train", "--config", config, "--out", tmp_path / "run")
    assert res.returncode != 0
    assert "unknown key 'batch'" in res.stderr and "did you mean 'batch_size'?" in res.stderr


def test_weights_zeroed_by_hand_are_not_blamed_on_a_weight_decay():
    """A network built with glorot_uniform whose weights were then set to 0 (seed 002's
    demonstration), trained without weight decay: the symmetry alert's fix said its units
    'started distinct (glorot_uniform)' and to lower --weight-decay."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    net = dp.mlp([4, 6, 2], activation="sigmoid", seed=0)
    for p in net.parameters():
        p.value[...] = 0
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.3), epochs=2, batch_size=20, seed=0)
    fixes = [a.fix for a in history.alerts if a.rule == "zero_init_symmetry"]
    assert fixes and all("never initialise weights to zero" in fix and "started distinct" not in fix for fix in fixes)


def test_open_mapped_scale_unit_on_small_levels_warns_in_its_own_terms(tmp_path):
    """open_mapped(scale='unit') on 0..16 levels warned to 'use scaling auto or standardize',
    choices of the command line's --scaling that open_mapped does not take."""
    import warnings

    from deltaprop.data import open_mapped

    path = tmp_path / "levels.npy"
    np.save(path, np.random.default_rng(0).integers(0, 17, (30, 64)).astype(np.uint8))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x = open_mapped(path, scale="unit")
    said = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(said) == 1 and "reach only 16" in said[0] and "scale=1/16" in said[0]
    assert "scaling auto" not in said[0] and caught[0].filename == __file__
    assert float(np.max(x[:])) == pytest.approx(16 / 255)
