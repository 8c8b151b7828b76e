"""A model file keeps the threshold its single output is decided by: ``save`` records the
one the network carries (or the given loss's), and ``load``, ``deltaprop predict`` and the
exports decide by it; a file written before it was recorded reads as it always did."""

from __future__ import annotations


import numpy as np
import pytest
from cli_in_process import run_cli

import deltaprop as dp
from deltaprop.serialization import read_model
from logit_models import trained_logit as trained_logit_net
from model_file_edits import edit_metadata


def rewritten(src, dst, drop=(), **patch):
    """``src`` with metadata entries dropped or replaced and its metadata digest recomputed."""
    def change(meta):
        for key in drop:
            del meta[key]
        meta.update(patch)

    return edit_metadata(src, dst, change)


@pytest.fixture(scope="module")
def trained_logit():
    return trained_logit_net()


def test_save_without_a_loss_keeps_the_networks_threshold(tmp_path, trained_logit):
    net, x = trained_logit
    back = dp.load(dp.save(net, tmp_path / "m.safetensors"))
    assert back.decision_threshold == 0.0
    assert np.array_equal(back.predict(x), net.predict(x))


def test_a_threshold_set_by_hand_comes_back(tmp_path):
    net = dp.mlp([3, 4, 1], output="sigmoid", seed=0)
    net.decision_threshold = 0.3
    assert dp.load(dp.save(net, tmp_path / "m.safetensors")).decision_threshold == 0.3


def test_predict_on_the_command_line_decides_by_the_saved_threshold(tmp_path, trained_logit):
    net, x = trained_logit
    path = dp.save(net, tmp_path / "m.safetensors", class_names=["neg", "pos"])
    z = net.predict_proba(x)[:, 0]
    row = x[np.flatnonzero((z >= 0) & (z < 0.5))[:1]]
    np.save(tmp_path / "row.npy", row)
    res = run_cli("predict", path, tmp_path / "row.npy")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("class pos "), res.stdout  # z ≥ 0, as net.predict says


def test_a_file_without_a_recorded_threshold_reads_as_before(tmp_path):
    net = dp.Network([dp.Dense(1, 1), dp.Identity()], seed=0)
    saved = dp.save(net, tmp_path / "m.safetensors", loss=dp.BinaryCrossEntropy(from_logits=True))
    old = rewritten(saved, tmp_path / "old.safetensors", drop=["decision_threshold"])
    assert dp.load(old).decision_threshold == 0.0  # the recorded loss's
    plain = rewritten(dp.save(net, tmp_path / "p.safetensors"), tmp_path / "oldp.safetensors",
                      drop=["decision_threshold"])
    assert dp.load(plain).decision_threshold == 0.5


@pytest.mark.parametrize("value", ["\"0.5\"", "NaN", "true", "[0]"])
def test_an_edited_threshold_is_refused(tmp_path, value):
    saved = dp.save(dp.mlp([3, 4, 1], output="sigmoid", seed=0), tmp_path / "m.safetensors")
    edited = rewritten(saved, tmp_path / "edited.safetensors", decision_threshold=value)
    with pytest.raises(dp.ModelFileError, match="edited.safetensors: "):
        read_model(edited)


def test_a_non_finite_threshold_is_not_saved(tmp_path):
    net = dp.mlp([3, 4, 1], output="sigmoid", seed=0)
    net.decision_threshold = float("nan")
    with pytest.raises(dp.ConfigError, match="decision_threshold must be a finite number"):
        dp.save(net, tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()
