"""A sweep's folder given where a model or run folder is asked for: every command names one of
its trials' run folders (as `report` does), rather than a model.safetensors the folder never
holds; and a folder without any model is not told to give "the .safetensors file inside it"."""

import pytest
from cli_in_process import run_cli


@pytest.fixture
def sweep_folder(tmp_path):
    out = tmp_path / "sweep"
    for name in ("trial-001", "trial-000"):
        (out / name).mkdir(parents=True)
    (out / "sweep.csv").write_text("trial,lr,status\n0,0.1,ok\n1,0.3,ok\n")
    return out


def _one_line(result) -> str:
    assert result.returncode != 0 and "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1, result.stderr
    return line


@pytest.mark.parametrize(
    "command",
    [
        ["info"],
        ["evaluate"],
        ["plot", "weights"],
        ["export", "--format", "onnx"],
    ],
)
def test_a_model_command_on_a_sweep_folder_names_a_trial(sweep_folder, command):
    line = _one_line(run_cli(*command, sweep_folder))
    assert f"{sweep_folder} holds no model.safetensors: it is a deltaprop sweep folder" in line
    assert str(sweep_folder / "trial-000") in line
    assert "give the .safetensors file inside it" not in line


def test_predict_and_plot_samples_on_a_sweep_folder_name_a_trial(sweep_folder, tmp_path):
    for args in (["predict", sweep_folder, tmp_path / "x.npy"], ["plot", "samples", "--model", sweep_folder]):
        line = _one_line(run_cli(*args))
        assert "sweep folder" in line and str(sweep_folder / "trial-000") in line


def test_plot_history_on_a_sweep_folder_names_a_trial(sweep_folder):
    line = _one_line(run_cli("plot", "history", sweep_folder))
    assert f"{sweep_folder} holds no history.csv: it is a deltaprop sweep folder" in line
    assert str(sweep_folder / "trial-000") in line


def test_serve_on_a_sweep_folder_names_a_trial(sweep_folder):
    line = _one_line(run_cli("serve", sweep_folder, "--port", "0"))
    assert "sweep folder" in line and str(sweep_folder / "trial-000") in line
    assert "is not a run folder" not in line


def test_train_resume_on_a_sweep_folder_says_how_a_sweep_continues(sweep_folder):
    line = _one_line(run_cli("train", "--resume", sweep_folder))
    assert "it is a deltaprop sweep folder" in line and f"--out {sweep_folder} --resume" in line
    assert "is it a deltaprop train output folder?" not in line


def test_a_folder_without_a_model_is_not_told_to_give_one_inside_it(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here\n")
    line = _one_line(run_cli("info", tmp_path))
    assert "holding no .safetensors file" in line
    assert "give the .safetensors file inside it" not in line


def test_a_folder_holding_a_safetensors_file_names_it(tmp_path):
    (tmp_path / "weights.safetensors").write_bytes(b"")
    line = _one_line(run_cli("info", tmp_path))
    assert f"give the .safetensors file inside it (e.g. {tmp_path / 'weights.safetensors'})" in line
