"""An empty name for a path argument (an unset shell variable: ``--out "$RUN"``) is refused
with the fix, not taken as the option left out (a new run in runs/<date-time>, a default
file) or as the current folder; and ``fit(resume=state)`` warns, as ``train --resume``
notes, when this process trains with other update forms (kernels, BLAS updates) than the
state's run did, naming the environment that gives its bits."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from cli_in_process import run_cli

import deltaprop as dp
from deltaprop.serialization import load_checkpoint, save_checkpoint
from deltaprop.training import UPDATE_FORMS_KEY, update_forms

EMPTY = "got an empty name (an unset shell variable?)"


def test_train_out_of_an_empty_name_is_refused_not_a_new_run_in_runs(tmp_path):
    res = run_cli("train", "--dataset", "parity", "--layers", "10,6,2", "--epochs", "1", "--out", "", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1, res.stderr
    assert f"--out takes the folder to write the run in, and {EMPTY}" in res.stderr
    assert "leave --out out for a new runs/<date-time>" in res.stderr
    assert list(tmp_path.iterdir()) == []  # it trained a run in runs/<date-time>


@pytest.mark.parametrize(("words", "option"), [
    (["train", "--config", "", "--dataset", "parity", "--out", "o"], "--config"),
    (["train", "--data-dir", "", "--dataset", "parity", "--out", "o"], "--data-dir"),
    (["evaluate", "MISSING", "--dataset", ""], "--dataset"),
    (["evaluate", "MISSING", "--data-dir", ""], "--data-dir"),
    (["evaluate", "MISSING", "--plot", ""], "--plot"),
    (["evaluate", ""], "MODEL"),
    (["predict", "MISSING", ""], "INPUT"),
    (["predict", "", "rows.npy"], "MODEL"),
    (["plot", "history", "MISSING", "-o", ""], "--out (-o)"),
    (["plot", "weights", "MISSING", "--out", ""], "--out (-o)"),
    (["plot", "samples", "--dataset", ""], "--dataset"),
    (["plot", "samples", "--model", ""], "--model"),
    (["plot", "samples", "-o", ""], "--out (-o)"),
    (["export", "MISSING", "-o", ""], "--out (-o)"),
    (["info", ""], "MODEL"),
    (["report", ""], "RUN_DIR"),
])
def test_an_empty_path_is_refused_with_its_fix(tmp_path, words, option):
    res = run_cli(*words, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("\n") == 1, res.stderr
    assert f"error: {option} takes " in res.stderr and EMPTY in res.stderr
    assert list(tmp_path.iterdir()) == []  # nothing trained or written


def _trained_state():
    """A one-epoch run's state (at its end) and its rows."""
    rng = np.random.default_rng(0)
    X, y = rng.random((48, 4), dtype=np.float32), rng.integers(0, 2, 48)
    states = []
    dp.fit(dp.mlp([4, 3, 2], seed=0), X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=1,
           batch_size=16, callbacks=[dp.LambdaCallback(on_train_end=states.append)], diagnostics=False)
    return states[0], X, y


def _resume(state, X, y, epochs):
    dp.fit(state.net, X, y, loss=state.loss, optimizer=state.optimizer, epochs=epochs, batch_size=16, resume=state,
           diagnostics=False)


def test_fit_resumed_on_other_kernels_warns_which_and_how_to_get_the_bits(tmp_path):
    state, X, y = _trained_state()
    recorded = state.callback_records[UPDATE_FORMS_KEY]
    assert recorded == update_forms()
    other = "numpy" if recorded["kernels"] == "numba" else "numba"
    recorded["kernels"] = other  # as a checkpoint written where numba was (or was not) installed
    save_checkpoint(tmp_path / "checkpoint.safetensors", state)
    ck = load_checkpoint(tmp_path / "checkpoint.safetensors")
    with pytest.warns(UserWarning) as caught:
        dp.fit(ck.net, X, y, loss=ck.loss, optimizer=ck.optimizer, epochs=2, batch_size=16,
               resume=ck.training_state(), diagnostics=False)
    said = [w for w in caught if "round differently" in str(w.message)]
    assert len(said) == 1
    text = str(said[0].message)
    assert f"last epochs trained with {other} kernels" in text
    assert f"this process trains with {update_forms()['kernels']} kernels" in text
    assert "BLAS updates" not in text  # the same: not named
    assert f"resume in a process started with DELTAPROP_KERNELS={other}" in text
    assert said[0].filename == __file__  # pointed at the caller's line


def test_fit_resumed_with_other_blas_updates_names_their_setting(tmp_path):
    state, X, y = _trained_state()
    with warnings.catch_warnings():  # the same forms: nothing to say
        warnings.simplefilter("error")
        _resume(state, X, y, epochs=2)
    assert state.callback_records[UPDATE_FORMS_KEY] == update_forms()
    before = state.callback_records[UPDATE_FORMS_KEY]["blas_updates"]
    state.callback_records[UPDATE_FORMS_KEY]["blas_updates"] = not before
    with pytest.warns(UserWarning, match="round differently") as caught:
        _resume(state, X, y, epochs=3)
    text = str(next(w.message for w in caught if "round differently" in str(w.message)))
    assert f"trained with BLAS updates {'off' if before else 'on'}" in text
    assert f"DELTAPROP_BLAS_UPDATES={'off' if before else 'on'}" in text
    assert "kernels" not in text
    assert state.callback_records[UPDATE_FORMS_KEY] == update_forms()  # this session's, for the next resume
