"""`deltaprop info` of a model trained on a CSV file's rows of pixels with --input-shape
names both its input columns and the image shape it records: the columns line hid the shape
that report, serve and predict read its images in."""

from cli_in_process import run_cli

import deltaprop as dp


def test_info_names_the_columns_and_the_recorded_image_shape(tmp_path):
    names = [f"p{i}" for i in range(6)]
    path = dp.save(
        dp.mlp([6, 3, 2], seed=0),
        tmp_path / "model.safetensors",
        loss=dp.CrossEntropy(),
        extra={"feature_names": names},
        input_shape=(2, 3),
    )
    lines = run_cli("info", path).stdout.splitlines()
    assert any(line.startswith("input columns: p0, p1, p2, p3, p4, p5") for line in lines)
    assert "input images: 2 x 3 a row (flattened in this axis order)" in lines


def test_info_of_columns_alone_says_no_image_shape(tmp_path):
    path = dp.save(
        dp.mlp([3, 3, 2], seed=0),
        tmp_path / "model.safetensors",
        loss=dp.CrossEntropy(),
        extra={"feature_names": ["a", "b", "c"]},
    )
    out = run_cli("info", path).stdout
    assert "input columns: a, b, c" in out and "input images:" not in out
