"""A user's own files through train, predict and evaluate: rows on another scale than the
model's training data are said to be, and a file of the wrong kind or shape is refused
with the fix (the columns the model takes, the conversion), not a bare count."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.data import read_table
from deltaprop.errors import ConfigError, FileFormatError
from cli_in_process import run_cli


def _image_model(path, *, scale: bool = False):
    """A model of 8x8 images whose raw training inputs ran 0..255 as floats, standardised
    (one μ and σ for all pixels), or divided by 255 with ``scale``."""
    first = dp.Rescaling(1 / 255) if scale else dp.Standardization([100.0] * 64, [80.0])
    net = dp.Network([first, dp.Dense(64, 3), dp.Softmax()], seed=0)
    dp.save(net, path, input_range=(0.0, 255.0))
    return path


def _table_model(path, names=("a", "b", "c", "d"), label_index: int = 4):
    """A model of a CSV file's four feature columns, its labels in column ``label_index``."""
    net = dp.Network([dp.Standardization([0.0] * 4, [1.0] * 4), dp.Dense(4, 3), dp.Softmax()], seed=0)
    dp.save(net, path, input_range=(-3.0, 3.0),
            extra={"feature_names": list(names), "data_file": {"label_index": label_index}})
    return path


def _fractions(n: int = 5) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, 64)).astype(np.float32) / 255


def test_predict_says_when_rows_divided_by_255_reach_a_model_that_standardises_0_to_255(tmp_path):
    """Trained on float pixels 0..255 (standardised, not divided), given rows already
    divided by 255: every row landed near one point and got the same class, with no word.
    Rows on the training scale get no note; a model that divides by 255 itself refuses."""
    rows, levels = tmp_path / "rows.npy", tmp_path / "levels.npy"
    np.save(rows, _fractions())
    np.save(levels, np.rint(_fractions() * 255))
    result = run_cli("predict", _image_model(tmp_path / "m.safetensors"), rows, levels)
    assert result.returncode == 0
    assert (f"note: {rows} holds fractions in [0, 1], but the model's raw training inputs ran from 0 to 255"
            in result.stderr)
    assert "were the rows divided by 255 (scaled to [0, 1]) already?" in result.stderr
    assert "np.save('rows.npy', rows * 255)" in result.stderr
    assert f"note: {levels}" not in result.stderr
    refused = run_cli("predict", _image_model(tmp_path / "unit.safetensors", scale=True), rows)
    assert refused.returncode == 1 and "this model divides its raw inputs by 255 itself" in refused.stderr
    assert "were the rows divided" not in refused.stderr


def test_evaluate_says_when_a_file_of_fractions_reaches_a_model_of_0_to_255(tmp_path):
    data = tmp_path / "scaled.npz"
    np.savez(data, x=_fractions(30), y=np.arange(30) % 3)
    result = run_cli("evaluate", _image_model(tmp_path / "m.safetensors"), "--dataset", data)
    assert result.returncode == 0
    assert f"note: {data} holds fractions in [0, 1]" in result.stderr
    assert "np.savez(path, x=x * 255, y=y)" in result.stderr


def test_predict_rows_still_holding_the_label_column_say_which_column_to_drop(tmp_path):
    rows = tmp_path / "rows.npy"
    np.save(rows, np.ones((3, 5)))
    result = run_cli("predict", _table_model(tmp_path / "m.safetensors"), rows)
    assert result.returncode == 1
    assert ("5 features per input, but the model takes 4 (the columns a, b, c, d of its training file, in that "
            "order, without the label column); if the rows still hold the label column (column 5 of the training "
            "file), drop it: np.save('rows.npy', np.delete(rows, 4, axis=1))") in result.stderr


def test_predict_rows_saved_transposed_are_told_to_be_saved_as_rows(tmp_path):
    rows = tmp_path / "rows.npy"
    np.save(rows, np.ones((4, 7)))
    result = run_cli("predict", _table_model(tmp_path / "m.safetensors"), rows)
    assert result.returncode == 1
    assert "the array has shape (4, 7), a column an input: save it transposed, np.save('rows.npy', rows.T)" \
        in result.stderr


def test_predict_images_of_another_size_name_the_size_the_model_takes(tmp_path):
    rows = tmp_path / "rows.npy"
    np.save(rows, np.zeros((2, 10, 10), np.uint8))
    result = run_cli("predict", _image_model(tmp_path / "m.safetensors"), rows)
    assert result.returncode == 1
    assert "100 features per input, but the model takes 64 (8x8 images)" in result.stderr


@pytest.mark.parametrize(("name", "fix"), [
    ("x.npy", "np.savez('data.npz', x=np.load('x.npy'), y=np.load('y.npy'))"),
    ("train-images-idx3-ubyte", "np.savez('data.npz', x=read_idx(images_file), y=read_idx(labels_file))"),
    ("train-images-idx3-ubyte.gz", "--dataset mnist --data-dir FOLDER"),
    ("data.tsv", "is read under the name .csv: rename it, e.g. data.csv"),
    ("iris.data", "rename it, e.g. iris.csv"),
    ("book.xlsx", "pd.read_excel(path).to_csv('data.csv', index=False)"),
    ("data.csv.gz", "a compressed file: decompress it first (e.g. gunzip data.csv.gz)"),
])
def test_a_data_file_of_another_type_is_refused_with_its_conversion(tmp_path, name, fix):
    path = tmp_path / name
    path.write_bytes(b"1,2,0\n")
    with pytest.raises(ConfigError, match="unsupported file type") as info:
        read_table(path)
    assert fix in str(info.value)


@pytest.mark.slow
def test_train_on_a_tsv_file_says_to_name_it_csv(tmp_path):
    path = tmp_path / "data.tsv"
    path.write_text("a\tlabel\n1\t0\n")
    result = run_cli("train", "--dataset", path, "--out", tmp_path / "run")
    assert result.returncode == 2 and "rename it, e.g. data.csv" in result.stderr


def test_a_structured_npy_array_is_refused_with_its_conversion_not_as_needing_pickle(tmp_path):
    """np.genfromtxt(names=True) makes a structured array of plain floats: it needs no
    pickle, and the refusal now says how to make it a plain array."""
    rows = tmp_path / "rows.npy"
    np.save(rows, np.zeros(3, dtype=[("a", "f4"), ("b", "f4"), ("c", "f4"), ("d", "f4")]))
    result = run_cli("predict", _table_model(tmp_path / "m.safetensors"), rows)
    assert result.returncode == 1
    assert "holds a structured array (named fields 'a', 'b', 'c', 'd'" in result.stderr
    assert "structured_to_unstructured(arr)" in result.stderr and "pickle" not in result.stderr


def test_a_structured_inputs_array_in_an_npz_is_refused_so_too(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, x=np.zeros(12, dtype=[("a", "f8"), ("b", "f8")]), y=np.arange(12) % 2)
    with pytest.raises(FileFormatError, match=r"data.npz\[x\]: holds a structured array \(named fields 'a', 'b'"):
        read_table(path)


def _csv(path, header: str | None, rows):
    lines = ([header] if header else []) + [",".join(f"{v:g}" for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _classes(result) -> list[str]:
    return [line.split(": class ")[1].split()[0] for line in result.stdout.splitlines()]


def test_predict_reads_a_csv_of_features_by_the_trained_header_names_in_any_order(tmp_path):
    """Predict refused CSV files and said to save the rows with np.save: a header in another
    order than training's then lost its names, and its columns reached the model in the
    wrong places without a word. A CSV file is now read by its header names."""
    model = _table_model(tmp_path / "m.safetensors")
    x = np.random.default_rng(1).normal(size=(6, 4)).round(3)
    rows = tmp_path / "rows.npy"
    np.save(rows, x)
    same = _csv(tmp_path / "same.csv", "a,b,c,d", x)
    moved = _csv(tmp_path / "moved.csv", "d,c,b,a", x[:, ::-1])
    expected = _classes(run_cli("predict", model, rows))
    for path in (same, moved):
        result = run_cli("predict", model, path)
        assert result.returncode == 0, result.stderr
        assert _classes(result) == expected
    assert "moved.csv names the model's 4 feature columns in another order (d, c, b, a)" in result.stderr


def test_predict_leaves_out_a_csv_files_label_and_id_columns_and_says_so(tmp_path):
    model = _table_model(tmp_path / "m.safetensors")
    x = np.random.default_rng(1).normal(size=(6, 4)).round(3)
    rows = tmp_path / "rows.npy"
    np.save(rows, x)
    labelled = _csv(tmp_path / "labelled.csv", "label,a,b,c,d", np.column_stack([np.arange(6) % 3, x]))
    result = run_cli("predict", model, labelled)
    assert result.returncode == 0 and _classes(result) == _classes(run_cli("predict", model, rows))
    assert f"note: {labelled}: column 'label' is not among the model's features and left out" in result.stderr
    assert f"evaluate {model} --dataset {labelled}" in result.stderr
    extra = _csv(tmp_path / "extra.csv", "id,a,b,c,d,label", np.column_stack([np.arange(6), x, np.arange(6) % 3]))
    result = run_cli("predict", model, extra)
    assert result.returncode == 0 and "columns 'id', 'label' are not among the model's features" in result.stderr
    assert "evaluate" not in result.stderr  # evaluate would refuse a column it was not trained on


def test_predict_reads_a_csv_without_a_header_by_position_leaving_out_the_trained_label_column(tmp_path):
    model = _table_model(tmp_path / "m.safetensors", label_index=0)
    x = np.random.default_rng(2).normal(size=(5, 4)).round(3)
    rows = tmp_path / "rows.npy"
    np.save(rows, x)
    bare = _csv(tmp_path / "bare.csv", None, x)
    labelled = _csv(tmp_path / "labelled.csv", None, np.column_stack([np.arange(5) % 3, x]))
    expected = _classes(run_cli("predict", model, rows))
    assert _classes(run_cli("predict", model, bare)) == expected
    result = run_cli("predict", model, labelled)
    assert result.returncode == 0 and _classes(result) == expected
    assert "column 1 of 5, where the model's training file had its labels" in result.stderr


def test_predict_refuses_a_csv_missing_a_trained_column_naming_it(tmp_path):
    path = _csv(tmp_path / "rows.csv", "a,b,c", np.ones((3, 3)))
    result = run_cli("predict", _table_model(tmp_path / "m.safetensors"), path)
    assert result.returncode == 1 and "it has no column 'd' (trained on a, b, c, d)" in result.stderr


def _rgb_model(path):
    """A model of 4x4 colour images saved channels last, (n, 4, 4, 3), as training records them."""
    net = dp.Network([dp.Dense(48, 3), dp.Softmax()], seed=0)
    dp.save(net, path, input_range=(0.0, 255.0), extra={"data_file": {"sha256": "0" * 64, "rows": 30,
                                                                      "shape": [4, 4, 3]}})
    return path


def _rgb(n: int = 30) -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (n, 4, 4, 3)).astype(np.uint8)


def test_predict_refuses_images_saved_channels_first_for_a_model_of_channels_last(tmp_path):
    """(n, 3, h, w) rows for a model trained on (n, h, w, 3): the same number of values, so
    they were flattened and scored with every colour in another pixel's place, silently."""
    model, first, last = _rgb_model(tmp_path / "m.safetensors"), tmp_path / "first.npy", tmp_path / "last.npy"
    np.save(first, _rgb().transpose(0, 3, 1, 2))
    np.save(last, _rgb())
    result = run_cli("predict", model, first)
    assert result.returncode == 1
    assert ("its images have the shape (3, 4, 4), the model's (4, 4, 3) in another axis order (channels first where "
            "training had them last, or the other way round)") in result.stderr
    assert "reorder the axes, x.transpose(0, 2, 3, 1)" in result.stderr
    fixed = tmp_path / "fixed.npy"
    np.save(fixed, np.load(first).transpose(0, 2, 3, 1))
    assert run_cli("predict", model, fixed).stdout == run_cli("predict", model, last).stdout.replace("last", "fixed")


def test_evaluate_refuses_an_npz_of_images_in_another_axis_order(tmp_path):
    data = tmp_path / "first.npz"
    np.savez(data, x=_rgb().transpose(0, 3, 1, 2), y=np.arange(30) % 3)
    result = run_cli("evaluate", _rgb_model(tmp_path / "m.safetensors"), "--dataset", data)
    assert result.returncode == 1 and "the model's (4, 4, 3) in another axis order" in result.stderr


@pytest.mark.slow
def test_train_records_the_shape_of_an_npz_files_images(tmp_path):
    """The model file keeps (h, w, c), which predict and evaluate check other images by."""
    from deltaprop.serialization import read_model

    data = tmp_path / "rgb.npz"
    np.savez(data, x=_rgb(), y=np.arange(30) % 3)
    assert run_cli("train", "--dataset", data, "--out", tmp_path / "run", "--epochs", "1", "-q").returncode == 0
    assert read_model(tmp_path / "run" / "model.safetensors").extra["data_file"]["shape"] == [4, 4, 3]


@pytest.mark.parametrize(("x", "words"), [
    (np.arange(64, dtype=np.float32).reshape(1, 64) * 4, "but whole levels 0..255 stored as float32: save them as 8-bit "
                                                         r"integers \(x.astype\(np.uint8\)\)"),
    (np.linspace(0, 1, 64, dtype=np.float32).reshape(1, 64), r"but float32 values already in \[0, 1\]: use none"),
])
def test_unit_scaling_of_float_pixels_says_how_to_mend_them(x, words):
    """Scaling unit refused float pixels as 'not non-negative integers: use standardize or
    none' even where they are 0..255 levels saved as floats, which x / 255 is meant for."""
    from deltaprop.preprocessing import unit_scaling

    with pytest.raises(ConfigError, match=words):
        unit_scaling(x)


def test_predict_leaves_out_a_regressors_target_column_without_pointing_to_evaluate(tmp_path):
    """A regressor saved in Python (no feature names): a CSV file with one column more,
    named target, is read without it; evaluate scores classifiers only, so it is not offered."""
    model = tmp_path / "reg.safetensors"
    net = dp.Network([dp.Dense(3, 1)], seed=0)
    dp.save(net, model, loss=dp.MeanSquaredError(classification=False))
    x = np.random.default_rng(4).normal(size=(4, 3)).round(3)
    path = _csv(tmp_path / "reg.csv", "a,b,c,target", np.column_stack([x, x.sum(axis=1)]))
    result = run_cli("predict", model, path)
    assert result.returncode == 0, result.stderr
    assert f"note: {path}: column 'target' (4 of 4), named as labels or targets, is left out" in result.stderr
    assert "evaluate" not in result.stderr
    values = [float(line.split("value ")[1]) for line in result.stdout.splitlines()]
    np.testing.assert_allclose(values, net.predict_proba(x.astype(np.float32)).ravel(), rtol=1e-5)


def test_info_names_the_input_columns_and_image_axes_that_rows_must_keep(tmp_path):
    """.npy rows for predict must hold the training file's columns in its order; info said
    only 'input 4 features', not which, nor where the label column had been."""
    table = run_cli("info", _table_model(tmp_path / "table.safetensors"))
    assert "input columns: a, b, c, d (a row's values in this order; the label was column 5 of the training file)" \
        in table.stdout
    images = run_cli("info", _rgb_model(tmp_path / "rgb.safetensors"))
    assert "input images: 4 x 4 x 3 a row (flattened in this axis order)" in images.stdout


def test_a_quoted_decimal_comma_in_a_comma_separated_file_is_named_as_one(tmp_path):
    """Excel in a decimal-comma locale quotes "0,125" between commas: the refusal called it
    text ('give class labels as ids ... encode or drop other text columns')."""
    path = tmp_path / "data.csv"
    path.write_text('a,b,label\n"0,125","3,5",1\n"1,25","0,75",0\n')
    with pytest.raises(FileFormatError, match=r"line 2, column 1 \('a'\) holds '0,125', a number written with a "
                                              r"decimal comma .*pd.read_csv\(path, decimal=','\)") as info:
        read_table(path)
    assert "class labels" not in str(info.value)


@pytest.mark.slow
def test_units_stuck_on_raw_pixels_are_told_to_scale_the_inputs_not_only_to_lower_the_rate():
    """fit on a CSV file's pixels as load_arrays gives them (uint8 0..255), no scaling: the
    saturated alert blamed the learning rate alone, which leaves them stuck at any usual
    rate; it now says to scale the inputs first."""
    from deltaprop.data import load

    ds = load("mnist-sample", flatten=True)
    X, y = ds.x_train[:600], ds.y_train[:600]
    net = dp.Network([dp.Dense(784, 30), dp.Sigmoid(), dp.Dense(30, 10), dp.Softmax()], seed=0)
    history = dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.3), epochs=1, batch_size=20, seed=0)
    alert = next(a for a in history.alerts if a.rule == "saturated")
    assert alert.fix.startswith("scale the inputs to [0, 1] or standardise them (scale X before fit, e.g. X / 255")
    # lr 0.3 on 0..255 pixels is chaotic: which of the two states the last step leaves differs
    # with the BLAS kernels' rounding, and the scaling comes first in either
    if alert.evidence.endswith("the large steps put them there (on inputs that are not scaled)"):
        assert alert.fix.endswith("or lower the learning rate (dp.SGD(lr=0.3)), for example 3-10× smaller")
    else:
        assert alert.evidence.endswith("(update ratio ‖ΔW‖/‖W‖ under 1e-03): it learns slowly")
        assert "start from smaller weights than glorot_uniform" in alert.fix


def test_image_rows_with_one_value_too_many_say_the_label_may_still_be_there(tmp_path):
    """A headerless CSV (or .npy) of Kaggle-style rows, label and 64 pixels, for a model of
    8x8 images: the refusal said only '65 features per input, but the model takes 64'."""
    model = _image_model(tmp_path / "m.safetensors")
    rows = np.column_stack([np.arange(3), np.ones((3, 64))])
    csv_result = run_cli("predict", model, _csv(tmp_path / "rows.csv", None, rows))
    assert csv_result.returncode == 1
    assert ("65 features per input, but the model takes 64 (8x8 images); if a column holds the labels, name it label "
            "in a header line (predict then leaves it out), or remove it") in csv_result.stderr
    np.save(tmp_path / "rows.npy", rows)
    npy_result = run_cli("predict", model, tmp_path / "rows.npy")
    assert "drop it: np.save('rows.npy', np.delete(rows, LABEL_INDEX, axis=1))" in npy_result.stderr
    labelled = _csv(tmp_path / "labelled.csv", "label," + ",".join(f"p{i}" for i in range(64)), rows)
    assert run_cli("predict", model, labelled).returncode == 0
