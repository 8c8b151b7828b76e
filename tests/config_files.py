"""A config.toml as ``deltaprop train`` writes one, for the tests that edit it."""

from __future__ import annotations

from deltaprop.config import TrainConfig


def written(tmp_path, mapping, *, features=10, outputs=2, batches=10):
    """``tmp_path/config.toml`` for the options ``mapping``, filled in as a run of
    ``features`` inputs, ``outputs`` outputs and ``batches`` batches an epoch would."""
    cfg = TrainConfig.from_mapping(mapping)
    cfg.fill_from_run(features, outputs, batches_per_epoch=batches)
    path = tmp_path / "config.toml"
    path.write_text(cfg.to_toml())
    return path
