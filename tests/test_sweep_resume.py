"""sweep --resume compares a finished trial's recorded configuration with the one the sweep
gives it: only what the record lists as derived (filled in by training) may be left unset."""

from pathlib import Path

import pytest

from deltaprop import ConfigError
from deltaprop.config import TrainConfig
from deltaprop.sweep import check_resumable, plan_trials

HISTORY = "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,steps\n1,0.49,0.53,0.48,0.52,0.3,0.01,10\n"


def _trained(folder: Path, n_features: int = 10, n_classes: int = 2, **settings) -> TrainConfig:
    """A finished trial as deltaprop train leaves it: config.toml resolved from the run (the
    widths and a schedule's length filled in and named in derived), a model, run.json."""
    cfg = TrainConfig.from_mapping(settings)
    cfg.fill_from_run(n_features, n_classes, batches_per_epoch=8)
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text(cfg.to_toml())
    (folder / "model.safetensors").write_bytes(b"")
    (folder / "history.csv").write_text(HISTORY)
    (folder / "run.json").write_text('{"status": "done", "seconds": 1.5}')
    return cfg


def _resumable(tmp_path: Path, config_text: str | None, **grid) -> None:
    config = None
    if config_text is not None:
        config = str(tmp_path / "c.toml")
        Path(config).write_text(config_text)
    check_resumable(plan_trials({k: [v] for k, v in grid.items()}, tmp_path / "s"), config)


@pytest.mark.parametrize("recorded, resumed", [("step:step_size=1", "step"), ("cosine:t_max=2", "cosine"),
                                               ("step:step_size=1,gamma=0.5", "step:gamma=0.5")])
def test_schedule_settings_set_explicitly_must_be_given_again(tmp_path, recorded, resumed):
    cfg = _trained(tmp_path / "s" / "trial-000", dataset="parity", epochs=6, schedule=recorded)
    assert not any(name.startswith("schedule.") for name in cfg.derived)
    _resumable(tmp_path, None, dataset="parity", epochs="6", schedule=recorded)  # the same: resumable
    with pytest.raises(ConfigError, match=r"trial 0 .* was trained with schedule = .*(step_size|t_max)"):
        _resumable(tmp_path, None, dataset="parity", epochs="6", schedule=resumed)


@pytest.mark.parametrize("kind, setting", [("cosine", "t_max"), ("step", "step_size")])
def test_a_schedule_length_training_filled_in_is_filled_in_again(tmp_path, kind, setting):
    cfg = _trained(tmp_path / "s" / "trial-000", dataset="parity", epochs=6, schedule=kind)
    assert f"schedule.{setting}" in cfg.derived
    filled = cfg.schedule[setting]
    _resumable(tmp_path, None, dataset="parity", epochs="6", schedule=kind)
    _resumable(tmp_path, None, dataset="parity", epochs="6", schedule=f"{kind}:{setting}={filled}")
    with pytest.raises(ConfigError, match=f"{setting}"):
        _resumable(tmp_path, None, dataset="parity", epochs="6", schedule=f"{kind}:{setting}={filled + 1}")


def test_layers_set_explicitly_are_not_replaced_by_the_datas_default(tmp_path):
    _trained(tmp_path / "s" / "trial-000", dataset="parity", layers=[10, 3, 2], lr=0.1)
    _resumable(tmp_path, 'dataset = "parity"\nlayers = [10, 3, 2]\n', lr="0.1")
    with pytest.raises(ConfigError, match=r"layers = \[10, 3, 2\], but this sweep gives it layers = none"):
        _resumable(tmp_path, 'dataset = "parity"\n', lr="0.1")


def test_layers_training_took_from_the_data_are_taken_again(tmp_path):
    cfg = _trained(tmp_path / "s" / "trial-000", dataset="parity", lr=0.1)
    assert cfg.layers == [10, 50, 2] and "layers" in cfg.derived
    _resumable(tmp_path, 'dataset = "parity"\n', lr="0.1")
    _resumable(tmp_path, 'dataset = "parity"\nlayers = [10, 50, 2]\n', lr="0.1")  # the same network
    with pytest.raises(ConfigError, match=r"layers = \[10, 50, 2\], but this sweep gives it layers = \[10, 3, 2\]"):
        _resumable(tmp_path, 'dataset = "parity"\nlayers = [10, 3, 2]\n', lr="0.1")
