"""A user's own CSV file without a header whose labels are class names, through train,
evaluate and predict: its first row is a row wherever the name sits, beside missing
values, and when the name is a label's (y/n), never a header that drops that row; and
"none" in a label column is a class (the UCI lenses'), not a missing value."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from cli_in_process import run_cli


def _rows(n: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows of 3 features (two decimals) and class ids 0, 1, 2 in turn."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    return np.round(rng.random((n, 3)) + y[:, None], 2), y


def _write(path, x, labels, place: int = -1, header: str | None = None):
    """A CSV file of the rows ``x`` with ``labels`` (text) in column ``place`` (-1: last)."""
    lines = [header] if header else []
    for row, label in zip(x, labels):
        cells = [f"{v:g}" for v in row]
        cells.insert(len(cells) if place == -1 else place, str(label))
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def _model(path, classes, n_features: int = 3, label_index: int = 3):
    """A model of ``n_features`` inputs and the named classes, trained on a file without a
    header whose labels were in column ``label_index``."""
    net = dp.Network([dp.Dense(n_features, len(classes)), dp.Softmax()], seed=0)
    dp.save(net, path, class_names=list(classes), extra={"data_file": {"label_index": label_index}})
    return path


@pytest.mark.slow
def test_train_reads_a_first_row_labelled_y_as_a_row_not_as_a_header(tmp_path):
    """``5.13,3.85,1.76,y`` above rows labelled y and n: the y was taken for a label column's
    name, the row for a header (its numbers the feature names) and dropped without a word."""
    x, y = _rows()
    data = _write(tmp_path / "yn.csv", x, np.where(y == 0, "y", "n"))
    res = run_cli("train", "--dataset", data, "--epochs", "1", "--seed", "0", "--out", tmp_path / "run")
    assert res.returncode == 0, res.stderr
    assert ("labels: column (4 of 4, it holds text, class names; the others hold numbers); its 2 class names, "
            "sorted, are classes 0..1: n, y") in res.stdout
    assert "by its name" not in res.stdout
    info = run_cli("info", tmp_path / "run" / "model.safetensors")
    assert "classes: n, y" in info.stdout and "input 3 features" in info.stdout


def test_predict_classifies_every_row_of_a_file_whose_first_label_is_y(tmp_path):
    """predict left out the 'y' column of a 'header' that was the first row: 29 answers for
    30 rows. A header of numbers above rows of other names keeps its label name ``y``."""
    x, y = _rows()
    model = _model(tmp_path / "m.safetensors", ["n", "y"])
    data = _write(tmp_path / "yn.csv", x, np.where(y == 0, "y", "n"))
    res = run_cli("predict", model, data)
    assert res.returncode == 0, res.stderr
    answers = [line for line in res.stdout.splitlines() if line.startswith(f"{data}[")]
    assert len(answers) == 30 and answers[0].startswith(f"{data}[0]: class ")
    assert "column 4 of 4, where the model's training file had its labels" in res.stderr
    named = _write(tmp_path / "named.csv", x, np.array(["a", "b", "c"])[y], header="400,500,600,y")
    scored = run_cli("evaluate", _model(tmp_path / "abc.safetensors", ["a", "b", "c"]), "--dataset", named)
    assert scored.returncode == 0, scored.stderr
    assert f"{named} (all 30 rows)" in scored.stdout


def test_evaluate_scores_the_first_row_of_a_file_labelled_in_its_second_column(tmp_path):
    """``842302,M,17.99,...`` (the breast-cancer file's layout): a word in the middle made
    the first row a header, and --label-column 1 scored the other 29 rows without a word."""
    x, y = _rows()
    data = _write(tmp_path / "wdbc.csv", x, np.where(y == 0, "M", "B"), place=1)
    model = _model(tmp_path / "m.safetensors", ["B", "M"], label_index=1)
    res = run_cli("evaluate", model, "--dataset", data, "--label-column", "1")
    assert res.returncode == 0, res.stderr
    assert f"{data} (all 30 rows)" in res.stdout
    guessed = run_cli("train", "--dataset", data, "--epochs", "1", "--out", tmp_path / "run")
    assert guessed.returncode == 1
    assert f"{data}: line 1, column 2 holds 'M', not a number" in guessed.stderr
    assert "--label-column NAME|INDEX" in guessed.stderr


@pytest.mark.parametrize("gap", ["NA", ""])
def test_a_missing_value_in_the_first_row_is_refused_not_read_as_a_header(tmp_path, gap):
    """``1.5,NA,3.2,setosa``: taken for a header, the row was dropped and its gap never
    seen (train ran on the rest); an empty cell was 'header cell 2 of 4 is empty'."""
    x, y = _rows()
    names = np.array(["setosa", "versicolor", "virginica"])
    data = _write(tmp_path / "gap.csv", x, names[y])
    lines = data.read_text().splitlines()
    cells = lines[0].split(",")
    cells[1] = gap
    data.write_text("\n".join([",".join(cells), *lines[1:]]) + "\n")
    res = run_cli("train", "--dataset", data, "--epochs", "1", "--out", tmp_path / "run")
    assert res.returncode == 1
    assert f"{data}: line 1, column 2 holds {gap!r}, a missing value" in res.stderr
    assert "impute them" in res.stderr and "header" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_none_in_a_label_column_is_a_class_with_or_without_a_header(tmp_path):
    """The UCI lenses' classes hard, none, soft: without a header, 'none' below 'soft' was
    a missing value in a column named 'soft' (the first row read as a header); under a
    header 'class', a first row labelled 'none' was refused as a missing label."""
    x, y = _rows()
    lenses = np.array(["soft", "none", "hard"])
    model = _model(tmp_path / "m.safetensors", ["hard", "none", "soft"], label_index=3)
    plain = _write(tmp_path / "lenses.csv", x, lenses[y])
    res = run_cli("evaluate", model, "--dataset", plain)
    assert res.returncode == 0, res.stderr
    assert f"{plain} (all 30 rows)" in res.stdout and "\nnone " in res.stdout
    first = _write(tmp_path / "first.csv", x[1:], lenses[y[1:]], header="a,b,c,class")
    named = _model(tmp_path / "named.safetensors", ["hard", "none", "soft"])
    res = run_cli("evaluate", named, "--dataset", first)
    assert res.returncode == 0, res.stderr
    assert f"{first} (all 29 rows)" in res.stdout
    numbers = _write(tmp_path / "numbers.csv", x, y.astype(str))
    text = numbers.read_text().replace(",1\n", ",none\n", 1)
    numbers.write_text(text)
    refused = run_cli("train", "--dataset", numbers, "--epochs", "1", "--out", tmp_path / "run")
    assert refused.returncode == 1 and "holds 'none', a missing value" in refused.stderr


def _table_text(sep: str, decimal: str = ".", header: str = "a,b,c,label") -> str:
    x, y = _rows()
    rows = [sep.join(f"{v:.2f}".replace(".", decimal) for v in row) + f"{sep}{k}" for row, k in zip(x, y)]
    return "\n".join([header.replace(",", sep), *rows]) + "\n"


@pytest.mark.parametrize(("sep", "shown"), [("\t", r"sep='\t'"), (";", "sep=';'")])
def test_a_decimal_comma_is_named_by_its_cell_with_the_conversion_for_the_file_s_separator(tmp_path, sep, shown):
    """A tab-separated export with decimal commas was told to convert with sep=';', and
    no message said where the number was."""
    data = tmp_path / "export.csv"
    data.write_text(_table_text(sep, decimal=","))
    res = run_cli("train", "--dataset", data, "--epochs", "1", "--out", tmp_path / "run")
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1
    x, _ = _rows()
    first = f"{x[0, 0]:.2f}".replace(".", ",")
    assert f"{data}: line 2, column 1 ('a') holds '{first}', a number written with a decimal comma" in res.stderr
    assert f"pd.read_csv(path, {shown}, decimal=',').to_csv('fixed.csv', index=False)" in res.stderr


def test_a_european_number_with_a_thousands_point_is_a_decimal_comma_not_text(tmp_path):
    """``1.234,5`` between semicolons was 'not a number; encode or drop text feature columns'."""
    data = tmp_path / "export.csv"
    data.write_text("a;b;label\n1.234,5;2;0\n987,25;3;1\n" * 3)
    res = run_cli("train", "--dataset", data, "--epochs", "1", "--out", tmp_path / "run")
    assert res.returncode == 1
    assert f"{data}: line 2, column 1 ('a') holds '1.234,5', a number written with a decimal comma" in res.stderr
    assert "pd.read_csv(path, sep=';', decimal=',', thousands='.')" in res.stderr
    assert "encode or drop text" not in res.stderr


def test_a_row_of_only_commas_below_the_data_is_named_as_a_blank_row(tmp_path):
    """Spreadsheets save blank rows below the data as ``,,,``: it was 'a missing value' to
    impute, in column 1 only."""
    data = tmp_path / "sheet.csv"
    data.write_text(_table_text(",") + ",,,\n,,,\n")
    res = run_cli("train", "--dataset", data, "--epochs", "1", "--out", tmp_path / "run")
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1
    assert (f"{data}: line 32 holds no values, only commas (a blank row, as a spreadsheet saves one below its "
            "data); delete that line and any like it") in res.stderr


def test_an_npz_of_one_feature_or_of_x_transposed_is_refused_with_the_fix(tmp_path):
    """x of shape (n,) or (features, n): the messages said the shape, not what to save."""
    rng, y = np.random.default_rng(0), np.arange(40) % 2
    flat, turned = tmp_path / "flat.npz", tmp_path / "turned.npz"
    np.savez(flat, x=rng.random(40), y=y)
    np.savez(turned, x=rng.random((4, 40)), y=y)
    res = run_cli("train", "--dataset", flat, "--epochs", "1", "--out", tmp_path / "run")
    assert res.returncode == 1 and "for a single feature, save it as one column: x.reshape(-1, 1)" in res.stderr
    res = run_cli("train", "--dataset", turned, "--epochs", "1", "--out", tmp_path / "run")
    assert res.returncode == 1
    assert (f"{turned}: x has 4 rows but y has 40; its 40 columns match y's 40 labels: is x saved transposed "
            "(features as rows)? Save x.T.") in res.stderr


@pytest.mark.parametrize(("name", "fix"), [("rows.tsv", "rename it, e.g. rows.csv"),
                                           ("rows.csv.gz", "decompress it first (e.g. gunzip rows.csv.gz)"),
                                           ("rows.xlsx", "pd.read_excel(path).to_csv('data.csv', index=False)")])
def test_predict_names_a_table_of_another_type_instead_of_decoding_it_as_an_image(tmp_path, name, fix):
    """predict took a .tsv, .csv.gz or workbook for an image: 'cannot decode the image' for
    a model of images, 'an image cannot be its input' for one of a table's columns."""
    data = tmp_path / name
    data.write_bytes(b"a\tb\tc\tlabel\n0.1\t0.2\t0.3\t1\n")
    for model in (_model(tmp_path / "table.safetensors", ["n", "y"]),
                  _model(tmp_path / "image.safetensors", ["0", "1"], n_features=64)):
        res = run_cli("predict", model, data)
        assert res.returncode != 0 and len(res.stderr.strip().splitlines()) == 1
        assert f"{data}: unsupported file type" in res.stderr and "use .csv or .npy rows, or an image" in res.stderr
        assert fix in res.stderr and "image cannot be its input" not in res.stderr and "decode" not in res.stderr


def test_excel_s_separator_line_is_read_as_such(tmp_path):
    """Excel's first line ``sep=;`` (after a byte-order mark, lines ending CRLF) was read as a
    header of two columns, the second unnamed; a separator deltaprop does not read is named."""
    data = tmp_path / "excel.csv"
    data.write_bytes(b"\xef\xbb\xbfsep=;\r\n" + _table_text(";").replace("\n", "\r\n").encode())
    model = _model(tmp_path / "m.safetensors", ["0", "1", "2"])
    res = run_cli("evaluate", model, "--dataset", data)
    assert res.returncode == 0, res.stderr
    assert f"{data} (all 30 rows)" in res.stdout
    gap = tmp_path / "gap.csv"
    gap.write_text("sep=;\n" + _table_text(";").replace("\n", "\n;;;\n", 3))
    res = run_cli("train", "--dataset", gap, "--epochs", "1", "--out", tmp_path / "run")
    assert res.returncode == 1 and f"{gap}: line 3 holds no values, only semicolons" in res.stderr
    pipes = tmp_path / "pipes.csv"
    pipes.write_text("sep=|\na|b|label\n1|2|0\n")
    res = run_cli("train", "--dataset", pipes, "--epochs", "1", "--out", tmp_path / "run")
    assert res.returncode == 1
    assert (f"{pipes}: line 1, 'sep=|', says the columns are separated by '|'; deltaprop reads comma-, tab- or "
            "semicolon-separated files") in res.stderr


def test_a_whole_number_with_thousands_points_is_named_with_the_conversion(tmp_path):
    data = tmp_path / "export.csv"
    data.write_text("a;b;label\n12.345.678;2;0\n1.234;3;1\n" * 3)
    res = run_cli("train", "--dataset", data, "--epochs", "1", "--out", tmp_path / "run")
    assert res.returncode == 1
    assert f"{data}: line 2, column 1 ('a') holds '12.345.678', a number written with thousands points" in res.stderr
    assert "pd.read_csv(path, sep=';', thousands='.', decimal=',')" in res.stderr


@pytest.mark.parametrize("header", ["0,1,2,species", "1,2,3,species"])
def test_column_numbers_and_a_label_name_above_rows_of_names_are_a_header(tmp_path, header):
    """pandas writes a table's unnamed columns as 0,1,2 and a label column added to them by
    its name: that line was read as a row, 'species' made a class of one row."""
    x, y = _rows()
    names = np.array(["setosa", "versicolor", "virginica"])
    data = _write(tmp_path / "frame.csv", x, names[y], header=header)
    res = run_cli("evaluate", _model(tmp_path / "m.safetensors", list(names)), "--dataset", data)
    assert res.returncode == 0, res.stderr
    assert f"{data} (all 30 rows)" in res.stdout and "'species'" not in res.stderr


def test_r_s_row_names_column_is_refused_with_r_s_fix_too(tmp_path):
    """R's write.csv writes row names under an empty quoted name: the fix named pandas' only."""
    x, y = _rows()
    names = np.array(["setosa", "versicolor", "virginica"])
    lines = ['"","Sepal.Length","Sepal.Width","Petal.Length","Species"']
    lines += [f'"{i + 1}",' + ",".join(f"{v:g}" for v in row) + f',"{names[k]}"' for i, (row, k) in enumerate(zip(x, y))]
    data = tmp_path / "iris_r.csv"
    data.write_text("\n".join(lines) + "\n")
    res = run_cli("train", "--dataset", data, "--epochs", "1", "--out", tmp_path / "run")
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1
    assert "the first column has no name in the header: a row index" in res.stderr
    assert "write.csv(df, path, row.names = FALSE)" in res.stderr


def test_predict_leaves_out_the_label_column_of_a_file_given_a_header_by_position(tmp_path):
    """A model trained on a file without a header records where its labels were, no names:
    the same rows under a header 'a,b,c,species' were refused as text in a feature column,
    with --label-column as the fix, an option predict does not have."""
    x, y = _rows()
    names = np.array(["setosa", "versicolor", "virginica"])
    data = _write(tmp_path / "named.csv", x, names[y], header="a,b,c,species")
    res = run_cli("predict", _model(tmp_path / "m.safetensors", list(names)), data)
    assert res.returncode == 0, res.stderr
    assert (f"note: {data}: column 'species' (4 of 4), where the model's training file had its labels (the model "
            "records no column names: the file is read by position), is left out, as no feature") in res.stderr
    answers = [line for line in res.stdout.splitlines() if line.startswith(f"{data}[")]
    assert len(answers) == 30


def test_predict_names_its_own_fix_for_text_in_the_rows(tmp_path):
    """With no label position recorded (a model trained on an .npz), the text cell's fix was
    --label-column, which predict does not take."""
    x, y = _rows()
    net = dp.Network([dp.Dense(3, 3), dp.Softmax()], seed=0)
    model = dp.save(net, tmp_path / "m.safetensors")
    data = _write(tmp_path / "named.csv", x, np.array(["a", "b", "c"])[y], header="f,g,h,species")
    res = run_cli("predict", model, data)
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1
    assert (f"{data}: line 2, column 4 ('species') holds 'a', not a number; the rows to classify must hold numbers "
            "only: if that column holds the labels, name it label in the header line (predict then leaves it out), "
            "or remove it") in res.stderr
    assert "--label-column" not in res.stderr


@pytest.mark.parametrize("signs", ["+-", "-+"])
def test_plus_and_minus_class_labels_are_classes_not_missing_values(tmp_path, signs):
    """Labels '+' and '-' (the UCI credit-approval file's): '-' was a missing value, and a
    first row labelled '+' was taken for a header with a column named '+'."""
    x, y = _rows()
    y = y % 2
    data = _write(tmp_path / "signs.csv", x, np.array(list(signs))[y])
    res = run_cli("evaluate", _model(tmp_path / "m.safetensors", ["+", "-"]), "--dataset", data)
    assert res.returncode == 0, res.stderr
    assert f"{data} (all 30 rows)" in res.stdout


@pytest.mark.parametrize("header", [None, "a,b,c,species"])
def test_a_missing_class_name_first_is_a_missing_label_not_a_value_to_impute(tmp_path, header):
    """A column of class names whose first cell is NA was 'a missing value ... impute them',
    advice for features; a column of numbers with NA in it still gets that advice."""
    x, y = _rows()
    names = np.array(["setosa", "versicolor", "virginica"]).astype(object)[y]
    names[0] = "NA"
    data = _write(tmp_path / "gap.csv", x, names, header=header)
    res = run_cli("train", "--dataset", data, "--epochs", "1", "--out", tmp_path / "run")
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1
    line, named = ("line 1", "") if header is None else ("line 2", " ('species')")
    assert (f"{data}: {line}, column 4{named} holds 'NA', a missing label; a row without its class cannot be trained "
            "or scored on: drop the rows whose label is missing") in res.stderr
    numbers = _write(tmp_path / "numbers.csv", x, np.where(np.arange(30) == 0, "NA", y.astype(str)), header=header)
    res = run_cli("train", "--dataset", numbers, "--epochs", "1", "--out", tmp_path / "run")
    assert res.returncode == 1 and "holds 'NA', a missing value; every value must be a number" in res.stderr
