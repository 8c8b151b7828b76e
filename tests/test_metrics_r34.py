"""What a user reads after training: the numbers and figures of metrics, evaluate, the run
report and the plots, checked against what they claim to show."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import plots


@pytest.fixture
def drawn(monkeypatch):
    """The pixel arrays of each image tile of every figure drawn (its saving is kept)."""
    tiles: list[list[np.ndarray]] = []
    save = plots._save

    def keep(fig, path):
        tiles.append([np.asarray(ax.images[0].get_array()) for ax in fig.axes if ax.images])
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    return tiles


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
@pytest.mark.parametrize("shape", [(32, 8), (18, 8), (28, 20)])
def test_samples_of_3d_images_that_are_not_square_are_drawn_in_their_own_shape(tmp_path, drawn, shape):
    """(n, h, w) images with h != w were refolded into a square when h·w is one (a 32x8
    image drawn as 16x16 stripes) and refused as 'not a square image' otherwise."""
    x = np.random.default_rng(0).random((3, *shape))
    plots.plot_samples(x, [0, 1, 2], tmp_path / "s.png")
    assert len(drawn[0]) == 3
    for tile, image in zip(drawn[0], x):
        assert tile.shape == shape and np.array_equal(tile, image)


def test_samples_of_images_with_a_channel_axis_of_one_are_drawn_as_given(tmp_path, drawn):
    x = np.random.default_rng(1).random((2, 1, 12, 6))  # channels first, as a PyTorch batch
    plots.plot_samples(x, [0, 1], tmp_path / "s.png")
    assert [t.shape for t in drawn[0]] == [(12, 6), (12, 6)]
    assert np.array_equal(drawn[0][1], x[1, 0])


def _wide_table(path, n_features=64):
    """A CSV file of a table: 64 columns, each in its own units (standardised one by one)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, n_features)) * rng.uniform(1, 100, n_features)
    y = (x[:, 0] > 0).astype(int)
    lines = [",".join([f"f{i}" for i in range(n_features)] + ["label"])]
    lines += [",".join([f"{v:.5g}" for v in row] + [str(k)]) for row, k in zip(x, y)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_report_draws_no_weight_images_for_a_table_of_64_columns(tmp_path):
    """plot weights draws no 8x8 'images' of a table's 64 columns; the run's report did,
    under the words 'each hidden unit's incoming weights as a 8×8 image', and so did its
    rebuild by deltaprop report."""
    from cli_in_process import run_cli

    csv = _wide_table(tmp_path / "wide.csv")
    out = tmp_path / "run"
    done = run_cli("train", "--dataset", csv, "--epochs", "1", "--out", out, "--quiet")
    assert done.returncode == 0, done.stderr
    assert plots._tabular_inputs(dp.load(out / "model.safetensors"))  # its columns standardised one by one
    for page in ("trained", "rebuilt"):
        if page == "rebuilt":
            assert run_cli("report", out).returncode == 0
        html = (out / "report.html").read_text()
        weights = html[html.index('<section id="weights">'):]
        weights = weights[:weights.index("</section>")]
        assert "<img" not in weights and "8×8 image" not in weights, page
        assert "table's 64 columns" in weights, page


def test_the_report_still_draws_the_weights_of_square_images_as_images():
    from deltaprop.report_html import _weights

    W = np.random.default_rng(0).standard_normal((64, 3))
    assert _weights(W).count("<img") == 3
    assert "<img" not in _weights(W, table=True)


def _records(steps):
    return [{"epoch": e, "loss": 1.0 / e, "accuracy": 0.5, "val_loss": None, "val_accuracy": None, "lr": 0.1,
             "seconds": 0.1, "steps": s} for e, s in enumerate(steps, start=1)]


def test_the_report_says_a_last_epoch_cut_short_by_steps_is_partial():
    """--steps ending a run inside an epoch: history.png's title said 'epoch 2 is partial',
    the page's header called it the last epoch with no word."""
    from deltaprop.report_html import render

    facts = {"status": "done", "config": {"dataset": "mnist-sample", "layers": [784, 50, 10]}}
    cut = render(_records([180, 250]), facts)
    assert "last epoch (2, partial: 70 of its 180 steps)" in cut
    whole = render(_records([180, 360]), facts)
    assert "last epoch (2):" in whole and "partial" not in whole


def _labelled_model(path, names):
    """A model of 16 inputs (a 4x4 image) whose class at position i is that of input i's being
    lit (i < 3), over ``names``."""
    net = dp.Network([dp.Dense(16, 3), dp.Softmax()], seed=0)
    dense = net.layers[0]
    dense.W.value[...] = 0
    dense.W.value[:3, :3] = np.eye(3)
    dense.b.value[...] = 0
    return dp.save(net, path, class_names=list(names), loss=dp.CrossEntropy())


def _rows(path, positions, labels):
    x = np.zeros((len(positions), 16))
    x[np.arange(len(positions)), positions] = 5
    np.savez(path, x=x, y=np.asarray(labels))
    return path


def test_evaluate_reads_a_files_labels_as_the_models_classes_that_are_labels(tmp_path):
    """A model whose classes are the labels 1, 2, 3 (a scikit-learn classifier fitted on
    them, saved): a file labelled 1 and 2 was scored by position (label 1 read as the
    second class, '2'), accuracy 0 for a model right on every row; labelled 1, 2, 3 it was
    refused as holding 'class 3, which the model never saw'."""
    from cli_in_process import run_cli

    model = _labelled_model(tmp_path / "m.safetensors", ["1", "2", "3"])
    positions = np.array([0, 1, 0, 1, 1, 0])
    some = run_cli("evaluate", model, "--dataset", _rows(tmp_path / "some.npz", positions, positions + 1))
    assert some.returncode == 0, some.stderr
    assert "accuracy 1.0000" in some.stdout.splitlines()[0]
    rows = {line.split()[0]: line.split()[1:] for line in some.stdout.splitlines()[2:5]}
    assert rows["1"][-1] == "3" and rows["2"][-1] == "3" and rows["3"][-1] == "0"  # each class's support
    every = np.arange(9) % 3
    done = run_cli("evaluate", model, "--dataset", _rows(tmp_path / "every.npz", every, every + 1))
    assert done.returncode == 0, done.stderr
    assert "accuracy 1.0000" in done.stdout.splitlines()[0]


def test_evaluate_refuses_a_label_that_is_none_of_the_models_labelled_classes(tmp_path):
    from cli_in_process import run_cli

    model = _labelled_model(tmp_path / "m.safetensors", ["1", "2", "3"])
    done = run_cli("evaluate", model, "--dataset", _rows(tmp_path / "ids.npz", [0, 1, 2], [0, 1, 2]))
    assert done.returncode != 0 and done.stdout == "" and len(done.stderr.strip().splitlines()) == 1
    assert "holds the label 0, which is none of the model's classes (1, 2, 3)" in done.stderr


def test_plot_samples_titles_rows_by_the_models_labelled_classes(tmp_path, monkeypatch):
    """Rows labelled 1 and 2 were titled by the classes at positions 1 and 2: '2' and '3'."""
    from cli_in_process import run_cli

    titles = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: titles.extend(ax.get_title() for ax in fig.axes) or path)
    model = _labelled_model(tmp_path / "m.safetensors", ["1", "2", "3"])
    data = _rows(tmp_path / "some.npz", [0, 1], [1, 2])
    done = run_cli("plot", "samples", "--model", model, "--dataset", data, "--as-images", "-o", tmp_path / "s.png")
    assert done.returncode == 0, done.stderr
    assert titles == ["1 → 1", "2 → 2"]


def test_a_models_classes_named_by_their_positions_read_labels_as_they_are(tmp_path):
    from cli_in_process import run_cli

    model = _labelled_model(tmp_path / "m.safetensors", ["0", "1", "2"])
    done = run_cli("evaluate", model, "--dataset", _rows(tmp_path / "ids.npz", [0, 1, 2, 2], [0, 1, 2, 2]))
    assert done.returncode == 0 and "accuracy 1.0000" in done.stdout.splitlines()[0]
    named = _labelled_model(tmp_path / "n.safetensors", ["cat", "dog", "emu"])  # names, no labels: positions
    done = run_cli("evaluate", named, "--dataset", _rows(tmp_path / "ids.npz", [0, 1, 2, 2], [0, 1, 2, 2]))
    assert done.returncode == 0 and "accuracy 1.0000" in done.stdout.splitlines()[0]


def _three_classes_csv(path, n=80):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, 4))
    y = np.digitize(x[:, 0], [-0.5, 0.5])
    lines = ["a,b,c,d,label"] + [",".join([f"{v:.4f}" for v in row] + [str(k)]) for row, k in zip(x, y)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_evaluate_split_train_says_its_rows_include_the_validation_rows(tmp_path):
    """--split train scored the training part of the data, validation rows included, as if
    the model had trained on every one of them; a note now says how many it never saw."""
    from cli_in_process import run_cli
    from deltaprop.training import History

    csv = _three_classes_csv(tmp_path / "three.csv")
    out = tmp_path / "run"
    done = run_cli("train", "--dataset", csv, "--epochs", "1", "--batch-size", "1", "--validation-split", "0.25",
                   "--out", out, "--quiet")
    assert done.returncode == 0, done.stderr
    trained = int(History.read_csv(out / "history.csv").records[0]["steps"])  # one row a step
    scored = run_cli("evaluate", out, "--split", "train")
    assert scored.returncode == 0, scored.stderr
    n = int(scored.stdout.split("(train, ")[1].split(" examples")[0])
    assert f"these {n} train rows include the {n - trained} validation rows" in scored.stderr
    assert "--validation-split 0.25" in scored.stderr
    assert "validation rows" not in run_cli("evaluate", out).stderr  # the test rows hold none


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_evaluate_split_train_of_a_run_without_validation_has_no_such_note(tmp_path):
    from cli_in_process import run_cli

    out = tmp_path / "run"
    done = run_cli("train", "--dataset", _three_classes_csv(tmp_path / "three.csv"), "--epochs", "1",
                   "--validation-split", "0", "--out", out, "--quiet")
    assert done.returncode == 0, done.stderr
    scored = run_cli("evaluate", out, "--split", "train")
    assert scored.returncode == 0 and "validation rows" not in scored.stderr


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_the_reports_wrong_examples_of_a_data_file_name_their_rows_in_it(tmp_path):
    """A data file's test rows are a shuffled part of it: a wrong example's '#53' was its
    place in that part, and the file's row 53 another example (another label, as often as
    not); evaluation.json now records each one's row in the file and the page shows it."""
    import json

    from cli_in_process import run_cli

    csv = _three_classes_csv(tmp_path / "three.csv", n=120)
    out = tmp_path / "run"
    done = run_cli("train", "--dataset", csv, "--epochs", "1", "--lr", "0.01", "--out", out, "--quiet")
    assert done.returncode == 0, done.stderr
    wrong = json.loads((out / "evaluation.json").read_text())["wrong"]
    assert wrong, "the run should get some test rows wrong"
    table = np.loadtxt(csv, delimiter=",", skiprows=1)
    net = dp.load(out / "model.safetensors")
    for ex in wrong:
        row = table[ex["row"]]
        assert int(row[-1]) == ex["label"]
        assert int(net.predict(row[None, :-1])[0]) == ex["predicted"]
    assert run_cli("report", out).returncode == 0
    page = (out / "report.html").read_text()
    assert f"row {wrong[0]['row']}: true {wrong[0]['label']}, predicted {wrong[0]['predicted']}" in page
    assert "Rows are numbered as in the data file, from 0" in page


def test_the_speed_of_an_epoch_cut_short_by_steps_counts_the_rows_it_trained_on():
    """'epoch 2/3: ..., N examples/s' divided every training row by the seconds of an epoch
    that --steps ended after half of them: twice the speed it ran at."""
    from deltaprop.callbacks import Callback, epoch_summary

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] > 0).astype(int)
    said = []

    class Keep(Callback):
        def on_epoch_end(self, state):
            said.append((epoch_summary(state), state.logs["seconds"]))

    net = dp.mlp([4, 8, 2], seed=0)
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=3, steps=15, batch_size=20, seed=0,
           callbacks=[Keep()], diagnostics=False)
    assert len(said) == 2  # epoch 1 whole (10 steps of 20 rows), epoch 2 cut after 5 steps: 100 rows
    for (line, seconds), rows in zip(said, (200, 100)):
        speed = float(line.rsplit(", ", 1)[1].split(" examples/s")[0].replace(",", ""))
        assert speed == pytest.approx(rows / seconds, abs=1.0)


@pytest.mark.slow  # about 0.3 s in the quick suite on 2 cores
def test_train_log_json_speed_of_an_epoch_cut_short_counts_its_rows(tmp_path):
    import json

    from cli_in_process import run_cli

    csv = _three_classes_csv(tmp_path / "three.csv", n=100)  # 80 training rows: 4 steps of 20 an epoch
    done = run_cli("train", "--dataset", csv, "--epochs", "3", "--steps", "6", "--batch-size", "20",
                   "--validation-split", "0", "--out", tmp_path / "run", "--log-json")
    assert done.returncode == 0, done.stderr
    epochs = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"epoch"')]
    assert [e["steps"] for e in epochs] == [4, 6]
    for e, rows in zip(epochs, (80, 40)):
        assert e["examples_per_second"] == pytest.approx(rows / e["seconds"], abs=0.1)
