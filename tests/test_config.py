"""The training configuration: precedence, validation of every value, TOML in and out."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deltaprop as dp
from deltaprop.config import TrainConfig, config_file, dumps_toml, load_toml


def test_defaults_are_seed_000s_network():
    cfg = TrainConfig.from_mapping()
    assert ((cfg.dataset, cfg.activation, cfg.output, cfg.loss, cfg.optimizer)
            == ("mnist-sample", "sigmoid", "softmax", "cross_entropy", "sgd"))
    assert (cfg.lr, cfg.batch_size, cfg.network_sizes(784, 10)) == (0.3, 20, [784, 50, 10])
    net = cfg.build_network(784, 10)
    assert [type(layer).__name__ for layer in net.layers] == ["Dense", "Sigmoid", "Dense", "Softmax"]
    assert isinstance(cfg.build_optimizer(), dp.SGD) and isinstance(cfg.build_loss(), dp.CrossEntropy)


def test_weight_decay_defaults_to_the_optimizers_own():
    # AdamW's decoupled decay is its point: --optimizer adamw without --weight-decay trained plain Adam
    adamw = TrainConfig.from_mapping({"optimizer": "adamw"})
    assert adamw.weight_decay == 0.01 and adamw.build_optimizer().weight_decay == 0.01
    assert TrainConfig.from_mapping({"optimizer": "adamw", "weight_decay": 0}).build_optimizer().weight_decay == 0.0
    for name in ("sgd", "adam", "rmsprop", "adagrad", "adadelta"):
        assert TrainConfig.from_mapping({"optimizer": name}).build_optimizer().weight_decay == 0.0
    assert load_toml_text(dumps_toml(adamw.as_dict())).weight_decay == 0.01


def load_toml_text(text):
    return TrainConfig.from_mapping(tomllib.loads(text))


def test_later_sources_win_and_strings_are_parsed():
    cfg = TrainConfig.from_mapping({"lr": 0.5, "epochs": 3}, {"lr": "0.05", "layers": "4, 8,2", "batch_size": "full"})
    assert (cfg.lr, cfg.epochs, cfg.layers, cfg.batch_size) == (0.05, 3, [4, 8, 2], "full")


def test_steps_alone_means_no_epoch_limit():
    cfg = TrainConfig.from_mapping({"steps": "100"})
    assert (cfg.epochs, cfg.steps) == (None, 100)
    assert TrainConfig.from_mapping({"steps": 5, "epochs": 2}).epochs == 2


@pytest.mark.parametrize("key", ["lr", "momentum", "weight_decay", "dropout", "validation_split", "epochs", "steps",
                                 "batch_size", "early_stopping", "seed"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999", float("nan"), float("inf")])
def test_non_finite_numbers_are_refused_everywhere(key, value):
    with pytest.raises(dp.ConfigError, match=key):
        TrainConfig.from_mapping({key: value})


@pytest.mark.parametrize("mapping, match", [
    ({"lr": 0}, "lr must be > 0"), ({"lr": "-1"}, "lr must be > 0"), ({"batch_size": 0}, "batch_size must be >= 1"),
    ({"epochs": -2}, "epochs must be >= 1"), ({"epochs": 2.5}, "whole number"), ({"momentum": 1.0}, "momentum"),
    ({"dropout": 1}, "dropout"), ({"optimizer": "sgdd"}, "unknown optimizer"), ({"activation": "swish"}, "unknown activation"),
    ({"loss": "hinge"}, "unknown loss"), ({"dtype": "float16"}, "unknown dtype"), ({"layers": [784]}, "at least"),
    ({"layers": "784,0,10"}, "width"), ({"schedule": "warp"}, "unknown schedule"), ({"nesterov": True}, "momentum"),
    ({"optimizer": "adam", "momentum": 0.9}, "sgd optimizer only"), ({"lr": True}, "number"),
    ({"early_stopping": 3, "validation_split": 0}, "validation_split"),
    ({"schedule": {"type": "step", "gamma": "nan"}}, "schedule.gamma"),
])
def test_bad_values(mapping, match):
    with pytest.raises(dp.ConfigError, match=match):
        TrainConfig.from_mapping(mapping)


def test_unknown_key_is_named_with_a_suggestion():
    with pytest.raises(dp.ConfigError, match=r"unknown key 'epoch' in run.toml \(did you mean 'epochs'\?\); known keys: dataset"):
        TrainConfig.from_mapping({"epoch": 3}, origin="run.toml")
    with pytest.raises(dp.ConfigError, match=r"unknown key 'zzz' in run.toml; known keys"):
        TrainConfig.from_mapping({"zzz": 3}, origin="run.toml")


def test_toml_round_trip(tmp_path):
    cfg = TrainConfig.from_mapping({"layers": [10, 8, 2], "dataset": 'we"ird\\name\u00e9\x7f\n',
                                    "schedule": {"type": "step", "step_size": 3, "gamma": 0.5},
                                    "lr": 1e-05, "steps": 7, "nesterov": True, "momentum": 0.9})
    path = tmp_path / "c.toml"
    path.write_text(cfg.to_toml(), encoding="utf-8")
    again = TrainConfig.from_mapping(load_toml(path))
    assert again == cfg


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.one_of(
    st.text(max_size=10), st.integers(-10**12, 10**12), st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False), st.lists(st.integers(0, 1000), max_size=4)), max_size=6))
def test_toml_writer_matches_tomllib(data):
    assert tomllib.loads(dumps_toml(data)) == data


def test_toml_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("lr = = 3\n")
    with pytest.raises(dp.ConfigError, match="TOML syntax error.*line 1"):
        load_toml(bad)
    with pytest.raises(dp.ConfigError, match="no such config file"):
        load_toml(tmp_path / "none.toml")
    with pytest.raises(dp.ConfigError, match="folder"):
        load_toml(tmp_path)


def test_values_filled_in_are_named_and_a_config_file_leaves_them_out(tmp_path):
    cfg = TrainConfig.from_mapping({"schedule": "cosine", "epochs": 3})
    cfg.fill_from_run(784, 10, batches_per_epoch=100)
    assert cfg.layers == [784, 50, 10] and cfg.schedule == {"type": "cosine", "t_max": 3}
    assert cfg.derived == ["layers", "lr", "schedule.t_max", "weight_decay"]
    path = tmp_path / "config.toml"
    path.write_text(cfg.to_toml())
    assert tomllib.loads(path.read_text())["derived"] == cfg.derived
    mapping = config_file(path)
    assert not {"layers", "lr", "weight_decay", "derived"} & set(mapping) and mapping["schedule"] == {"type": "cosine"}
    again = TrainConfig.from_mapping(mapping, {"optimizer": "adam", "epochs": 6})
    again.fill_from_run(784, 10, batches_per_epoch=100)
    assert (again.lr, again.schedule["t_max"]) == (0.001, 6)
    given = TrainConfig.from_mapping({"lr": 0.1, "layers": [784, 20, 10], "schedule": {"type": "cosine", "t_max": 2}})
    given.fill_from_run(784, 10, batches_per_epoch=100)
    assert given.derived == ["epochs", "weight_decay"]  # what the user gave stays in the file
    with pytest.raises(dp.ConfigError, match="derived must be a list"):
        TrainConfig.from_mapping({"derived": "lr"})
