"""A binary NeuralNetClassifier (one sigmoid output) decides by its network's threshold, so a
model file saved with another threshold predicts the same classes through the estimator as
through dp.load and ``deltaprop predict``."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp

pytest.importorskip("sklearn")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_loaded_binary_classifier_decides_by_the_saved_threshold(tmp_path):
    from deltaprop.sklearn import NeuralNetClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    y = np.where(X[:, 0] + 0.3 * rng.standard_normal(200) > 0, "yes", "no")
    est = NeuralNetClassifier(hidden_layer_sizes=(6,), max_iter=30, random_state=0).fit(X, y)
    assert est.net_.n_outputs == 1
    p_yes = est.predict_proba(X)[:, 1]
    threshold = float(np.quantile(p_yes, 0.8))  # a stricter operating point than 0.5
    assert np.any((p_yes >= 0.5) & (p_yes < threshold))
    est.net_.decision_threshold = threshold
    path = est.save(tmp_path / "m.safetensors")

    want = np.where(p_yes >= threshold, "yes", "no")
    loaded = NeuralNetClassifier.load(path)
    np.testing.assert_array_equal(loaded.predict(X), want)
    np.testing.assert_array_equal(est.predict(X), want)
    net = dp.load(path)
    np.testing.assert_array_equal(np.array(["no", "yes"])[net.predict(X.astype(np.float32))], want)
