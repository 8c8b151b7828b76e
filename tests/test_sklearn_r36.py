"""A scikit-learn user's fitted estimator, saved, and then used the way the command line's
own models are: what `deltaprop evaluate` reads in another file must be what the
estimator was fitted on."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from cli_in_process import run_cli  # noqa: E402
from deltaprop.sklearn import NeuralNetClassifier  # noqa: E402


def _frame(n: int = 120) -> tuple:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"age": rng.normal(40, 10, n), "income": rng.normal(0, 1, n), "height": rng.normal(0, 1, n)})
    y = np.where(X["age"] > 40, "old", "young")
    return X, y


def test_evaluate_reads_a_csv_by_the_dataframe_columns_a_saved_estimator_was_fitted_on(tmp_path):
    """Fitted on a DataFrame (age, income, height), saved: a CSV naming those columns in
    another order was scored by position, age read as height, at about chance accuracy
    and without a word; one naming other columns was scored too. The command line's own
    models read such a file by name, and now so does a saved estimator."""
    X, y = _frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = NeuralNetClassifier((), solver="lbfgs", max_iter=200, random_state=0).fit(X, y)
    model = clf.save(tmp_path / "m.safetensors")
    ids = np.searchsorted(clf.classes_, y)
    frame = X.assign(label=ids)
    frame.to_csv(tmp_path / "same.csv", index=False)
    frame[["height", "label", "income", "age"]].to_csv(tmp_path / "moved.csv", index=False)
    same = run_cli("evaluate", model, "--dataset", tmp_path / "same.csv")
    moved = run_cli("evaluate", model, "--dataset", tmp_path / "moved.csv")
    assert same.returncode == 0 and moved.returncode == 0, same.stderr + moved.stderr
    score = f"accuracy {clf.score(X, y):.4f}"
    assert same.stdout.splitlines()[0].endswith(score) and moved.stdout.splitlines()[0].endswith(score)
    assert "read by name, in the trained order (age, income, height)" in moved.stderr
    frame.rename(columns={"height": "weight"}).to_csv(tmp_path / "other.csv", index=False)
    other = run_cli("evaluate", model, "--dataset", tmp_path / "other.csv")
    assert other.returncode == 1 and other.stdout == "" and other.stderr.count("\n") == 1
    assert "'weight', is not one the model was trained on, and it has no column 'height'" in other.stderr
