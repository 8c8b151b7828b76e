"""The README's Python runs as written and prints what it promises: seed 001's parity
network reaches test accuracy 1.0. Its example is seed 001's parity experiment itself, and
its run is the suite's one training of it: the checks of what the training loop does there
(the seed's data, 1000 epochs of 88 steps, the loss falling) are made on it here."""

from __future__ import annotations

import contextlib
import io
import math
import re
from pathlib import Path

import pytest

import deltaprop as dp

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_readme_has_the_parity_example():
    assert any("dp.fit(" in block and "Dense(10, 3)" in block for block in python_blocks())


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_python_block_runs_and_prints_accuracy_1(index, tmp_path, monkeypatch):
    block = python_blocks()[index]
    monkeypatch.chdir(tmp_path)  # anything the example writes stays out of the checkout
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, f"README.md python block {index}", "exec"), namespace := {"__name__": "__readme__"})
    printed = out.getvalue()
    accuracies = [float(v) for v in re.findall(r"accuracy:?\s*([0-9.]+)", printed)]
    if "Dense(10, 3)" in block:  # seed 001's parity network
        assert accuracies, printed
        assert all(a == 1.0 for a in accuracies), printed
        _is_seed_001s_parity_experiment(namespace)
    for value in re.findall(r"max relative error ([0-9.e+-]+)", printed):
        assert float(value) < 1e-6, printed


def _is_seed_001s_parity_experiment(namespace: dict) -> None:
    """Seed 001: every 10-bit number, bits written most significant first ('{0:010b}'),
    label 1 when the number is even; the first 700 train, the rest test. 10 → 3 → 2 sigmoid,
    MSE, SGD at 0.3, batches of 8, 1000 epochs, seed 0: every epoch's 88 steps are taken, the
    loss falls tenfold, and every test number is classified right."""
    X, y, net, history = (namespace[name] for name in ("X", "y", "net", "history"))
    assert X.tolist() == [[int(c) for c in f"{e:010b}"] for e in range(2**10)]  # bit order
    assert y.tolist() == [int(e % 2 == 0) for e in range(2**10)]  # label rule
    layers = [(layer.type_name, getattr(layer, "n_out", None)) for layer in net.layers]
    assert layers == [("Dense", 3), ("Sigmoid", None), ("Dense", 2), ("Sigmoid", None)]
    assert set(history["lr"]) == {0.3}
    assert len(history) == 1000 and history["steps"][-1] == 1000 * math.ceil(700 / 8)
    assert dp.accuracy(y[700:], net.predict(X[700:])) == 1.0
    assert history["loss"][-1] < history["loss"][0] / 10


def transcript(command: str) -> list[str]:
    """The lines the README's console transcript shows after ``$ COMMAND``."""
    console = re.findall(r"^```console\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)
    for block in console:
        lines = block.splitlines()
        if f"$ {command}" in lines:
            shown = lines[lines.index(f"$ {command}") + 1:]
            return shown[:next((i for i, line in enumerate(shown) if line.startswith("$ ")), len(shown))]
    raise AssertionError(f"the README shows no '$ {command}'")


def _without_timing(line: str) -> str:
    """A transcript line without what the machine's speed sets (examples/s, seconds of training)."""
    return re.sub(r", [\d,]+ examples/s|\([\d.]+ s of training\)", "", line)


@pytest.mark.slow
def test_readme_train_and_info_transcript_is_what_they_print(tmp_path, monkeypatch, capsys):
    """`deltaprop train --out runs/demo` and `deltaprop info runs/demo | tail -9 | head -8`
    print the README's lines (speeds and times aside; '...' stands for the epochs left out)."""
    from deltaprop.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["train", "--out", "runs/demo"]) == 0
    printed = [_without_timing(line) for line in capsys.readouterr().out.splitlines()]
    shown = [_without_timing(line) for line in transcript("uv run deltaprop train --out runs/demo")]
    cut = shown.index("...")
    assert printed[:cut] == shown[:cut] and printed[-(len(shown) - cut - 1):] == shown[cut + 1:]
    assert main(["info", "runs/demo"]) == 0
    info = capsys.readouterr().out.splitlines()
    # the weights' digest is of their bytes: a CPU whose BLAS kernels round differently (AVX-512's
    # against AVX2's) gives other last bits, so only its form is compared
    digest = re.compile(r"^(tensors sha256: )[0-9a-f]{64}$")
    assert [digest.sub(r"\1HEX", line) for line in info[-9:-1]] == \
        [digest.sub(r"\1HEX", line) for line in transcript("uv run deltaprop info runs/demo | tail -9 | head -8")]
    assert any(digest.match(line) for line in info[-9:-1])
    assert main(["evaluate", "runs/demo"]) == 0
    assert capsys.readouterr().out.splitlines()[:4] == transcript("uv run deltaprop evaluate runs/demo | head -4")
    assert main(["plot", "weights", "runs/demo"]) == 0
    assert capsys.readouterr().out.splitlines() == transcript("uv run deltaprop plot weights runs/demo")
    _zero_png(tmp_path / "zero.png")
    assert main(["predict", "runs/demo", "zero.png"]) == 0
    shown = "uv run deltaprop predict runs/demo zero.png      # Pillow: ellipse((50, 25, 150, 175), width=18) on white 200x200"
    said = capsys.readouterr()  # the notes on stderr come before the answer, as a terminal shows them
    assert said.err.splitlines() + said.out.splitlines() == transcript(shown)


def _zero_png(path: Path) -> None:
    """The README's hand-drawn zero: a black ring on white, as its comment describes it."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(image).ellipse((50, 25, 150, 175), outline=0, width=18)
    image.save(path)
