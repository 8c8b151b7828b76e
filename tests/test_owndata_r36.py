"""A newcomer's own files through `train`, `evaluate` and `predict`: what each command
makes of a header, a label column and the rows, and that a file it cannot read the way
the model needs is refused in one line, never scored or shown wrong."""

from __future__ import annotations

import numpy as np
import pytest

from deltaprop.data import read_table
from deltaprop.errors import DataError


def _table(n: int = 60) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.column_stack([np.round(rng.normal(size=(n, 3)), 4), np.arange(n) % 3])


def _csv(path, header: list[str], rows: np.ndarray):
    lines = [",".join(header)] + [",".join(f"{v:g}" for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_header_naming_a_column_twice_in_another_order_is_refused_not_a_traceback(tmp_path):
    """Trained under ``a,a,b,label``; another file whose two ``a`` columns come elsewhere
    (which ``a`` is which cannot be told by name). ``evaluate`` reads it through
    ``read_table``: a DataError is its one line, where a StopIteration was a traceback."""
    rows = _table()
    with pytest.raises(DataError, match=r"same columns in another order, and the 2 columns named 'a' cannot be told "
                                        r"apart by name .*give a file with the columns in the trained order"):
        read_table(_csv(tmp_path / "other.csv", ["a", "b", "a", "label"], rows), feature_names=["a", "a", "b"])


def _model_of_labels(path, names):
    """A model of 4 inputs whose class at position i is that of input i's being the largest
    (i < 3), its classes named ``names`` (the labels a scikit-learn classifier was fitted on)."""
    import deltaprop as dp

    net = dp.Network([dp.Dense(4, 3), dp.Softmax()], seed=0)
    net.layers[0].W.value[...] = 0
    net.layers[0].W.value[:3, :3] = 5 * np.eye(3)
    net.layers[0].b.value[...] = 0
    return dp.save(net, path, class_names=list(names), loss=dp.CrossEntropy())


@pytest.mark.parametrize("names", [["-1", "0", "1"], ["1000", "2000", "3000"], ["-1", "1", "10"]])
def test_evaluate_scores_a_file_labelled_with_the_models_own_labels_beyond_class_ids(tmp_path, names):
    """A scikit-learn classifier fitted on -1/0/1, saved: a file labelled so was refused as
    holding 'a negative number' ('renumber -1/1 as 0/1'), and renumbered 0, 1, 2 it was
    refused as 'none of the model's classes': no file could be scored. (Codes 1000..3000
    were read right before and still are.)"""
    from cli_in_process import run_cli

    model = _model_of_labels(tmp_path / "m.safetensors", names)
    positions = np.array([0, 1, 2, 2, 1, 0, 0])
    x = np.zeros((len(positions), 4))
    x[np.arange(len(positions)), positions] = 1
    labels = np.array([int(n) for n in names])[positions]
    rows = ["a,b,c,d,label"] + [",".join(f"{v:g}" for v in row) + f",{k}" for row, k in zip(x, labels)]
    (tmp_path / "new.csv").write_text("\n".join(rows) + "\n")
    np.savez(tmp_path / "new.npz", x=x, y=labels)
    for data in ("new.csv", "new.npz"):
        done = run_cli("evaluate", model, "--dataset", tmp_path / data)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[0].endswith(f"(all {len(positions)} rows): accuracy 1.0000")
        support = {line.split()[0]: int(line.split()[-1]) for line in done.stdout.splitlines()[2:5]}
        assert support == {name: int((positions == j).sum()) for j, name in enumerate(names)}
    np.savez(tmp_path / "ids.npz", x=x, y=positions + 3)  # labels that are none of the model's classes
    refused = run_cli("evaluate", model, "--dataset", tmp_path / "ids.npz")
    assert refused.returncode == 1 and refused.stdout == "" and refused.stderr.count("\n") == 1
    assert f"which is none of the model's classes ({', '.join(names)})" in refused.stderr


def test_a_quoted_header_name_holding_a_comma_is_one_column(tmp_path):
    """R's write.csv and pandas quote a name that holds the separator; the header was split
    inside the quotes and the file refused: 'the rows have 4 values, the header names 5'."""
    rows = _table()
    path = tmp_path / "r.csv"
    path.write_text('"income, USD","age",b,"label"\n' + "\n".join(",".join(f"{v:g}" for v in r) for r in rows) + "\n")
    table = read_table(path)
    assert table.feature_names == ("income, USD", "age", "b")
    assert table.label_source == "column 'label' (4 of 4, by its name)"
    assert np.array_equal(table.x, rows[:, :3].astype(table.x.dtype)) and np.array_equal(table.y, rows[:, 3])


def _two_label_columns(path):
    """Two columns named 'label' (a file joined from two exports), the first and the last."""
    rows = _table()[:, [3, 0, 1, 2]]
    rows = np.column_stack([rows, (rows[:, 1] > 0).astype(int)])
    return _csv(path, ["label", "a", "b", "c", "label"], rows), rows


def test_a_label_column_named_as_two_columns_is_refused_not_the_first_taken(tmp_path):
    """--label-column label, as the refusal of two label columns advised, took the first
    'label' column without a word, whichever was meant."""
    from deltaprop.errors import ConfigError

    path, _ = _two_label_columns(tmp_path / "two.csv")
    with pytest.raises(ConfigError, match=r"both have a label's name; say which holds the labels with --label-column 0 "):
        read_table(path)
    with pytest.raises(ConfigError, match=r"2 columns are named 'label' \(columns 1, 5 of 5\); give the label column "
                                          r"by its index, 0 first: --label-column 0"):
        read_table(path, label_column="label")
    table = read_table(path, label_column=4)
    assert table.feature_names == ("label", "a", "b", "c")


def test_evaluate_finds_the_label_column_where_training_had_it_when_a_feature_shares_its_name(tmp_path):
    """Trained with --label-column 4 on that file (its features 'label', a, b, c), the file
    given again to evaluate was refused ('both have a label's name'), and following the advice,
    --label-column label, scored the trained label as a feature."""
    path, rows = _two_label_columns(tmp_path / "two.csv")
    table = read_table(path, feature_names=["label", "a", "b", "c"], label_position=4)
    assert table.label_index == 4 and np.array_equal(table.y, rows[:, 4])
    assert np.array_equal(table.x, rows[:, :4].astype(table.x.dtype))


@pytest.mark.parametrize("side", [8, 16, 32])
def test_an_as_is_image_of_the_models_own_size_reaches_it_as_it_is(side):
    """A model of 32x32 (or 8x8) images given an image of that size with --images as-is got
    it made into 28x28 and then brought to 32x32: its levels moved by up to 145 of 255."""
    from deltaprop.images import image_for_side

    pixels = np.random.default_rng(side).integers(0, 256, size=(side, side)).astype(np.float64)
    assert np.array_equal(image_for_side(pixels, "as-is", side), pixels)


def test_an_as_is_image_is_resized_straight_to_a_side_above_28():
    """A 64x64 image of 2x2 blocks comes out near the 32x32 image of those blocks (a
    Lanczos filter rings on random levels; through 28x28 they were 42 levels off on
    average, here 15), and a smooth one comes out exact."""
    from deltaprop.images import image_for_side

    blocks = np.random.default_rng(0).integers(0, 256, size=(32, 32)).astype(np.float64)
    assert np.abs(image_for_side(np.kron(blocks, np.ones((2, 2))), "as-is", 32) - blocks).mean() < 20
    ramp = np.indices((32, 32))[0] * 8.0
    assert np.array_equal(image_for_side(np.kron(ramp, np.ones((2, 2))), "as-is", 32), ramp)


def test_an_archive_saved_as_keras_mnist_npz_trains_on_its_training_arrays(tmp_path):
    """Keras' mnist.npz layout (x_train, y_train, x_test, y_test) was refused, 'no inputs/labels
    pair', and --label-column y_train then asked which of three arrays were the inputs."""
    rng = np.random.default_rng(0)
    x_train, x_test = rng.integers(0, 256, (30, 8, 8), dtype=np.uint8), rng.integers(0, 256, (9, 8, 8), dtype=np.uint8)
    y_train, y_test = np.arange(30) % 3, np.arange(9) % 3
    np.savez(tmp_path / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    table = read_table(tmp_path / "mnist.npz")
    assert np.array_equal(table.x, x_train) and np.array_equal(table.y, y_train)
    assert table.label_source == "array 'y_train'"
    assert any("the arrays 'x_test', 'y_test' are not read" in note for note in table.notes)
