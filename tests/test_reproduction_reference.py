"""scripts/seed000_reference.py, the NumPy transcription of seed 000's Julia SGD code: it
standardises as the seed does, and deltaprop's seed000_sgd network, started from the same
parameters, follows it weight for weight."""

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
