"""scripts/seed000_reference.py and scripts/seed001_reference.py, NumPy transcriptions of the
seeds' own code: they standardise and batch as the seeds do, and deltaprop's networks,
started from the same parameters, follow them weight for weight."""

import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _reference():
    spec = importlib.util.spec_from_file_location("seed000_reference", ROOT / "scripts" / "seed000_reference.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["seed000_reference"] = module
    spec.loader.exec_module(module)
    return module


def _images(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=n)


def test_standardise_uses_a_mean_per_pixel_and_one_deviation_of_all_centred_pixels():
    ref = _reference()
    images, _ = _images(50, 0)
    x = ref.standardise(images)
    assert x.shape == (784, 50) and x.dtype == np.float64
    np.testing.assert_allclose(x.mean(axis=1), 0.0, atol=1e-12)
    assert abs(x.std(ddof=1) - 1.0) < 1e-12
    # one deviation for all pixels: the per-pixel deviations are not all 1
    assert np.ptp(x.std(axis=1, ddof=1)) > 0.05


def test_initial_parameters_are_a_tenth_of_standard_normal_with_the_bias_last():
    ref = _reference()
    p1, p2 = ref.initial_parameters(3)
    assert p1.shape == (50, 785) and p2.shape == (10, 51)
    assert 0.09 < p1.std() < 0.11
    np.testing.assert_array_equal(ref.initial_parameters(3)[0], p1)


def test_deltaprop_from_the_same_start_follows_the_transcription_weight_for_weight():
    ref = _reference()
    images, labels = _images(240, 1)  # 240 rows: the windows wrap around; 20 divides 240 as it divides 60,000
    x = ref.standardise(images)
    params = ref.initial_parameters(7)
    steps = 40
    with np.errstate(over="ignore"):
        ref.train(params, x, labels, steps)
    net = ref.deltaprop_same_start(7, x, labels, steps)
    dense = [layer for layer in net.layers if layer.type_name == "Dense"]
    for layer, p in zip(dense, params):
        np.testing.assert_allclose(layer.W.value, p[:, :-1].T, rtol=0, atol=1e-12)
        np.testing.assert_allclose(layer.b.value, p[:, -1], rtol=0, atol=1e-12)
    # and the training moved the weights: the comparison is not of two untouched starts
    assert np.abs(params[0] - ref.initial_parameters(7)[0]).max() > 1e-3


def test_a_different_window_order_gives_different_weights():
    """The comparison above can tell batch orders apart: shuffled rows end elsewhere."""
    ref = _reference()
    images, labels = _images(240, 1)
    x = ref.standardise(images)
    order = np.random.default_rng(0).permutation(240)
    params = ref.initial_parameters(7)
    with np.errstate(over="ignore"):
        ref.train(params, x[:, order], labels[order], 40)
    net = ref.deltaprop_same_start(7, x, labels, 40)
    assert np.abs(net.layers[0].W.value - params[0][:, :-1].T).max() > 1e-6


def _reference001():
    spec = importlib.util.spec_from_file_location("seed001_reference", ROOT / "scripts" / "seed001_reference.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["seed001_reference"] = module
    spec.loader.exec_module(module)
    return module


def test_seed001_batches_end_with_352_rows_divided_by_256_or_with_the_rest():
    ref = _reference001()
    seed = ref.batches(60000, "seed")
    assert len(seed) == 234 and seed[-1] == (233 * 256, 60000, 256)
    assert all(hi - lo == 256 and d == 256 for lo, hi, d in seed[:-1])
    rest = ref.batches(60000, "rest")
    assert len(rest) == 235 and rest[-1] == (234 * 256, 60000, 96)


def test_deltaprop_from_seed001s_start_follows_its_transcription():
    """seed001_mnist_mse's network and loss in float64, started from the seed's draws
    (np.random.seed, randn weights and biases), take the transcription's steps."""
    import deltaprop as dp

    ref = _reference001()
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, size=(3 * 256, 784)).astype(np.float64)
    labels = rng.integers(0, 10, size=3 * 256)
    params = ref.initial_parameters(0)
    net = dp.Network([dp.Dense(784, 32), dp.Sigmoid(), dp.Dense(32, 10), dp.Sigmoid()], seed=0, dtype="float64")
    for layer, (W, b) in zip([net.layers[0], net.layers[2]], params):
        layer.W.value[...] = W.T
        layer.b.value[...] = b
    with np.errstate(over="ignore"):
        for lo in range(0, 3 * 256, 256):
            ref.step(params, x[lo:lo + 256], np.eye(10)[labels[lo:lo + 256]], 256)
        dp.fit(net, x, labels, loss=dp.MeanSquaredError(), optimizer=dp.SGD(lr=0.3), steps=3, batch_size=256,
               batching="sequential", threads=1, diagnostics=False)
    for layer, (W, b) in zip([net.layers[0], net.layers[2]], params):
        np.testing.assert_allclose(layer.W.value, W.T, rtol=0, atol=1e-8)
        np.testing.assert_allclose(layer.b.value, b, rtol=0, atol=1e-8)
    assert np.abs(params[1][0] - ref.initial_parameters(0)[1][0]).max() > 1e-3
