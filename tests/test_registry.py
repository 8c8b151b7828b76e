"""The one name-lookup mechanism: normalised names, aliases as entries, closed tables, and
every concept's table built on it."""

from __future__ import annotations

import pytest

import deltaprop as dp
from deltaprop.initializers import INITIALIZERS
from deltaprop.layers import ACTIVATIONS, LAYERS
from deltaprop.losses import LOSSES
from deltaprop.optimizers import OPTIMIZERS
from deltaprop.registry import Registry, normalise
from deltaprop.schedules import SCHEDULES


class Thing:
    def __init__(self, size=1):
        self.size = size


def test_names_are_compared_normalised_and_aliases_are_entries_of_their_own():
    table = Registry("thing", {"big_thing": Thing}, aliases={"bt": Thing})
    assert normalise("  Big-Thing ") == normalise("BIG THING") == "big_thing"
    assert table["Big-Thing"] is table["bt"] is table.lookup("BT") is Thing
    assert "big thing" in table and "bt" in table and "small" not in table and 3 not in table
    assert list(table) == ["big_thing"] and len(table) == 1  # aliases are found, not listed
    assert table.create("bt", size=3).size == 3
    assert table.create({"type": "Big_Thing", "size": 4}).size == 4


def test_unknown_names_and_bad_settings_are_config_errors_naming_the_choices():
    table = Registry("thing", {"big_thing": Thing, "other": Thing})
    with pytest.raises(dp.ConfigError, match=r"unknown thing 'os.system'; choose one of big_thing, other"):
        table.lookup("os.system")
    with pytest.raises(dp.ConfigError, match="unknown thing"):
        table.lookup(None)
    with pytest.raises(dp.ConfigError, match="bad settings for thing 'other'"):
        table.create("other", colour="red")
    with pytest.raises(dp.ConfigError, match="'type' name"):
        table.create({"size": 2})
    with pytest.raises(ValueError, match="normalise to the same key"):
        Registry("thing", {"a-b": Thing, "A_B": Thing})


@pytest.mark.parametrize(
    ("table", "name", "expected"),
    [
        (LOSSES, "CrossEntropy", dp.CrossEntropy), (LOSSES, "bce", dp.BinaryCrossEntropy),
        (LOSSES, "Mean-Squared-Error", dp.MeanSquaredError), (OPTIMIZERS, "AdamW", dp.AdamW),
        (OPTIMIZERS, "RMSprop", dp.RMSprop), (SCHEDULES, "Cosine", dp.CosineAnnealing),
        (LAYERS, "LeakyReLU", dp.LeakyReLU), (ACTIVATIONS, "leaky-relu", dp.LeakyReLU),
        (ACTIVATIONS, "linear", dp.Identity),
    ],
)
def test_every_concept_is_looked_up_through_one_mechanism(table, name, expected):
    assert isinstance(table, Registry) and table.lookup(name) is expected


def test_every_config_round_trips_through_its_table():
    for thing, table in [(dp.CrossEntropy(from_logits=True), LOSSES), (dp.SGD(lr=0.2, momentum=0.5), OPTIMIZERS),
                         (dp.StepDecay(step_size=3), SCHEDULES), (dp.LeakyReLU(0.2), LAYERS)]:
        again = table.create(thing.config())
        assert type(again) is type(thing) and again.config() == thing.config()
    assert INITIALIZERS["He-Normal"] is dp.initializers.he_normal


def test_a_module_may_add_an_entry_once():
    table = Registry("thing", {"big_thing": Thing})
    table.add("Other-Thing", Thing)
    assert list(table) == ["big_thing", "Other-Thing"] and table.lookup("other_thing") is Thing
    with pytest.raises(ValueError, match="already registered"):
        table.add("other thing", Thing)
