"""`train --resume` of a run that diverged before its first epoch ended (no checkpoint) says
to train again at a lower learning rate, as `info` and `evaluate` of the folder do, rather
than to start it over as configured, which diverges again at the same step."""

import pytest
from cli_in_process import run_cli


@pytest.mark.slow  # a diverging run and a resume: about half a second
def test_resume_of_a_run_diverged_in_its_first_epoch_asks_for_a_lower_rate(tmp_path):
    out = tmp_path / "div"
    args = ("--dataset", "parity", "--loss", "mse", "--output-activation", "identity", "--activation", "relu")
    trained = run_cli("train", *args, "--lr", "100", "--epochs", "2", "--threads", "1", "--out", out, "--quiet")
    assert trained.returncode == 1 and "training diverged at epoch 1" in trained.stderr
    assert not (out / "checkpoint.safetensors").exists()
    result = run_cli("train", "--resume", out)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "its run diverged before its first epoch ended" in line and "(it was 100)" in line
    assert line.endswith(f"deltaprop train --config {out / 'config.toml'} --out {out} --overwrite --lr LOWER")
