"""Epoch lines give a loss far from 1 in significant digits, as the report does."""

from types import SimpleNamespace

from deltaprop.callbacks import epoch_summary, metric_text


def _state(**logs):
    base = {"epoch": 3, "loss": 0.5, "accuracy": None, "val_loss": None, "val_accuracy": None, "seconds": 0}
    return SimpleNamespace(logs={**base, **logs}, epochs=10, progress=None, n_examples=100)


def test_a_diverged_loss_is_given_in_significant_digits_not_twenty_integer_digits():
    line = epoch_summary(_state(loss=1.0526307236027553e19, val_loss=1.3249832358823e10))
    assert line == "epoch 3/10: loss 1.0526e+19, val loss 1.325e+10"


def test_a_tiny_loss_is_not_printed_as_zero():
    assert epoch_summary(_state(loss=3.2e-07, accuracy=1.0)) == "epoch 3/10: loss 3.2e-07, accuracy 1.0000"


def test_ordinary_values_keep_their_four_decimals():
    assert [metric_text(v) for v in (0.0, 0.25, 0.001, 12345.678)] == ["0.0000", "0.2500", "0.0010", "12345.6780"]
