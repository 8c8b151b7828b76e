"""What a sweep sends its trials: relative paths made absolute against the sweep's working
folder, and a Dask key of each trial's own."""

from pathlib import Path

from deltaprop.sweep import check_resumable, plan_trials, trial_key, trial_options
from deltaprop.config import TrainConfig


def test_relative_dataset_and_data_dir_are_sent_absolute_from_the_sweeps_folder(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('dataset = "data/t.csv"\ndata_dir = "cache"\n')
    sent = trial_options(str(config), {"lr": "0.1"}, base=tmp_path)
    assert sent == {"lr": "0.1", "dataset": str(tmp_path / "data" / "t.csv"), "data_dir": str(tmp_path / "cache")}
    # from the grid too; named datasets and absolute paths are left as they are
    assert trial_options(None, {"dataset": "t.csv"}, base=tmp_path) == {"dataset": str(tmp_path / "t.csv")}
    assert trial_options(None, {"dataset": "parity"}, base=tmp_path) == {"dataset": "parity"}
    assert trial_options(None, {"dataset": "/abs/t.csv", "data_dir": "/abs"}, base=tmp_path) == {
        "dataset": "/abs/t.csv", "data_dir": "/abs"}
    # a value that does not parse is sent as given, to fail its own trial with train's message
    assert trial_options(None, {"lr": "abc", "dataset": "t.csv"}, base=tmp_path) == {"lr": "abc", "dataset": "t.csv"}


def test_resume_compares_the_absolute_paths_the_trial_was_sent(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.csv").write_text("a,b,label\n0,1,0\n1,0,1\n")
    config = tmp_path / "c.toml"
    config.write_text('dataset = "t.csv"\ndata_dir = "d"\n')
    trial = plan_trials({"lr": ["0.1"]}, tmp_path / "s")[0]
    recorded = TrainConfig.from_mapping({"dataset": str(tmp_path / "t.csv"), "data_dir": str(tmp_path / "d"),
                                         "lr": 0.1})
    trial.folder.mkdir(parents=True)
    (trial.folder / "config.toml").write_text(recorded.to_toml())
    (trial.folder / "model.safetensors").write_bytes(b"")
    (trial.folder / "run.json").write_text('{"status": "done"}')
    check_resumable([trial], str(config))


def test_trial_keys_differ_between_folders_of_one_name_and_repeat_for_one_folder(tmp_path):
    a = plan_trials({"lr": ["1", "2"]}, tmp_path / "a" / "sw")
    b = plan_trials({"lr": ["1", "2"]}, tmp_path / "b" / "sw")
    keys = {trial_key(t.folder) for t in a + b}
    assert len(keys) == 4
    assert trial_key(a[0].folder) == trial_key(Path(str(tmp_path / "a" / "sw" / "x" / ".." / "trial-000")))
