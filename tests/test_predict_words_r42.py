"""What `predict` says of rows or an image a table model cannot take: an image points at
the row files predict reads (CSV as well as .npy), and `.npy` rows as many as the model's
inputs and one value wider name both likely causes, not only a transposed array."""

import numpy as np
import pytest
from cli_in_process import run_cli
from PIL import Image

import deltaprop as dp


@pytest.fixture
def table_model(tmp_path):
    return dp.save(dp.mlp([3, 4, 2], seed=0), tmp_path / "model.safetensors", loss=dp.CrossEntropy())


def _line(result) -> str:
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr.strip()


def test_an_image_for_a_table_model_names_csv_rows_too(table_model, tmp_path):
    Image.new("L", (28, 28), 255).save(tmp_path / "digit.png")
    line = _line(run_cli("predict", table_model, tmp_path / "digit.png"))
    assert "an image cannot be its input" in line and "a .npy or CSV file" in line


def test_rows_as_many_as_inputs_and_one_wider_name_both_fixes(table_model, tmp_path):
    np.save(tmp_path / "rows.npy", np.zeros((3, 4)))
    line = _line(run_cli("predict", table_model, tmp_path / "rows.npy"))
    assert "the array has shape (3, 4): if a column is an input, save it transposed" in line
    assert "if the rows still hold the label column, drop it" in line


@pytest.mark.parametrize(
    ("shape", "said", "unsaid"),
    [((3, 5), "a column an input: save it transposed", "label column"), ((2, 4), "label column", "transposed")],
)
def test_an_unambiguous_width_names_its_one_fix(table_model, tmp_path, shape, said, unsaid):
    np.save(tmp_path / "rows.npy", np.zeros(shape))
    line = _line(run_cli("predict", table_model, tmp_path / "rows.npy"))
    assert said in line and unsaid not in line
