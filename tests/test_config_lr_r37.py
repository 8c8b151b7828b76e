"""A learning rate refused names one to give: the optimizer's default."""

import pytest

from deltaprop.config import TrainConfig
from deltaprop.errors import ConfigError


@pytest.mark.parametrize(("optimizer", "lr", "example"), [("sgd", 0, "0.3"), ("adam", -1, "0.001"), ("sgd", "x", "0.3")])
def test_a_refused_learning_rate_names_a_rate_to_give(optimizer, lr, example):
    with pytest.raises(ConfigError) as info:
        TrainConfig(optimizer=optimizer, lr=lr).validate()
    message = str(info.value)
    assert message.startswith("lr must be")
    assert f"give a positive learning rate, e.g. {example} (the default for {optimizer})" in message


def test_cli_lr_zero_is_one_line_with_the_fix(tmp_path):
    from cli_in_process import run_cli

    res = run_cli("train", "--dataset", "parity", "--lr", "0", "-q", "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == ["deltaprop: error: lr must be > 0, got 0.0: give a positive learning "
                                               "rate, e.g. 0.3 (the default for sgd)"]
