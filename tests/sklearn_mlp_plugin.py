"""A pytest plugin that runs scikit-learn's own MLP test module, as installed, against
deltaprop's estimators:

    PYTHONPATH=tests pytest -p sklearn_mlp_plugin --pyargs sklearn.neural_network.tests.test_mlp

While pytest imports that module, ``sklearn.neural_network.MLPClassifier`` and
``MLPRegressor`` are deltaprop's :class:`~deltaprop.sklearn.NeuralNetClassifier` and
:class:`~deltaprop.sklearn.NeuralNetRegressor`, so the module's own names (and the
parametrize lists built from them) hold our estimators; scikit-learn's package is restored
right after. No test is copied or edited. The tests in :data:`EXCLUDED` are skipped, each
with its reason (docs/sklearn.md lists them too).
"""

from __future__ import annotations

import pytest

TEST_MODULE = "sklearn.neural_network.tests.test_mlp"

#: Tests skipped, with why: each reads or calls scikit-learn's private internals, or needs
#: a loss deltaprop does not have.
EXCLUDED = {
    "test_gradient": "calls MLPClassifier._loss_grad_lbfgs, a private method (deltaprop's gradients are "
    "checked against finite differences in tests/test_gradcheck.py)",
    "test_fit": "sets MLPClassifier's private training state (_coef_grads, _coef_velocity, ...) on an "
    "unfitted estimator; tests/test_sklearn_compat.py checks the same worked example",
    "test_learning_rate_warmstart": "reads the private _optimizer.learning_rate "
    "(tests/test_sklearn_compat.py checks invscaling after a warm start)",
    "test_adaptive_learning_rate": "reads the private _optimizer.learning_rate "
    "(tests/test_sklearn_compat.py checks the adaptive rate)",
    "test_mlp_vs_poisson_glm_equivalent": "loss='poisson' (exponential output, Poisson deviance): deltaprop "
    "has no Poisson loss",
}

_saved: dict[str, object] = {}


def _is_test_module(collector) -> bool:
    return isinstance(collector, pytest.Module) and collector.nodeid.replace("/", ".").endswith("test_mlp.py") and (
        "neural_network" in collector.nodeid
    )


def pytest_collectstart(collector):
    if not _is_test_module(collector):
        return
    import sklearn.neural_network as nn

    from deltaprop.sklearn import NeuralNetClassifier, NeuralNetRegressor

    _saved.update(MLPClassifier=nn.MLPClassifier, MLPRegressor=nn.MLPRegressor)
    nn.MLPClassifier, nn.MLPRegressor = NeuralNetClassifier, NeuralNetRegressor


def pytest_collectreport(report):
    if not _saved:
        return
    import sklearn.neural_network as nn

    nn.MLPClassifier, nn.MLPRegressor = _saved.pop("MLPClassifier"), _saved.pop("MLPRegressor")


def pytest_collection_modifyitems(config, items):
    from deltaprop.sklearn import NeuralNetClassifier, NeuralNetRegressor

    seen = False
    for item in items:
        module = getattr(item, "module", None)
        if module is None or module.__name__ != TEST_MODULE:
            continue
        seen = True
        if module.MLPClassifier is not NeuralNetClassifier or module.MLPRegressor is not NeuralNetRegressor:
            raise pytest.UsageError(f"{TEST_MODULE} was imported before its MLP names could point at deltaprop")
        reason = EXCLUDED.get(item.originalname or item.name)
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=f"not run against deltaprop: {reason}"))
    if not seen:
        raise pytest.UsageError(f"this plugin runs {TEST_MODULE}; pass --pyargs {TEST_MODULE}")
