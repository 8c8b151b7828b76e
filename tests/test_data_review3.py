"""Own data files: a row-id column is never taken for the class labels."""

import numpy as np
import pytest

from deltaprop.data import read_table
from deltaprop.errors import DataError


def _write(path, header, rows):
    path.write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path


def test_an_id_column_is_not_the_label_column_when_the_last_holds_a_target(tmp_path):
    """id, features, a float target: the id (0..n-1, each once) was taken as n classes of one row each."""
    rng = np.random.default_rng(0)
    rows = [(i, f"{a:.4f}", f"{b:.4f}", f"{a + b:.4f}") for i, (a, b) in enumerate(rng.normal(size=(50, 2)))]
    path = _write(tmp_path / "data.csv", "id,a,b,value", rows)
    with pytest.raises(DataError, match="'value'.*not a whole-number class id"):
        read_table(path)


def test_an_id_column_beside_real_classes_is_a_feature_not_the_labels(tmp_path):
    rng = np.random.default_rng(1)
    rows = [(i, f"{a:.4f}", i % 3) for i, a in enumerate(rng.normal(size=30))]
    path = _write(tmp_path / "data.csv", "id,a,kind", rows)
    table = read_table(path)
    assert table.label_index == 2
    np.testing.assert_array_equal(table.y, np.arange(30) % 3)
    assert any("row id" in note for note in table.notes)


def test_a_tiny_file_may_still_have_one_row_per_class(tmp_path):
    path = _write(tmp_path / "data.csv", "a,b,c", [(0.5, 1.5, 0), (0.25, 2.5, 1), (0.75, 3.5, 2)])
    np.testing.assert_array_equal(read_table(path).y, [0, 1, 2])


def _le_idx(path, array, code):
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "little") for d in array.shape)
    path.write_bytes(header + array.astype(array.dtype.newbyteorder(">")).tobytes())
    return path


@pytest.mark.parametrize(("dtype", "code"), [(np.uint8, 0x08), (np.float32, 0x0D)])
def test_an_idx_file_with_little_endian_sizes_is_named_so_not_truncated(tmp_path, dtype, code):
    """A writer that packs the sizes little-endian: the file was called truncated and the fix
    was to fetch it again, which gives the same file."""
    from deltaprop.data import open_mapped, read_idx, read_idx_header
    from deltaprop.errors import FileFormatError

    path = _le_idx(tmp_path / "images.idx", np.arange(5 * 4 * 3).reshape(5, 4, 3).astype(dtype), code)
    for read in (read_idx, read_idx_header, open_mapped):
        with pytest.raises(FileFormatError, match=r"little-endian.*5x4x3.*write_idx") as info:
            read(path)
        assert "truncated" not in str(info.value) and "fetch" not in str(info.value)


def test_a_truncated_idx_file_is_still_called_truncated(tmp_path):
    from deltaprop.data import read_idx, write_idx
    from deltaprop.errors import FileFormatError

    path = write_idx(tmp_path / "images.idx", np.zeros((5, 4, 3), np.uint8))
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(FileFormatError, match="truncated"):
        read_idx(path)


def test_an_npz_of_float64_timestamps_gets_the_float32_note_a_csv_gets(tmp_path):
    """A CSV's column that float32 cannot hold is named in a note; the same x saved as .npz
    trained in float32 (the command line's default) lost its fractions without a word."""
    rng = np.random.default_rng(0)
    x = np.c_[1e9 + rng.uniform(0, 50, 100), rng.normal(size=100)]
    y = (x[:, 0] > 1e9 + 25).astype(np.int64)
    np.savez(tmp_path / "ts.npz", x=x, y=y)
    table = read_table(tmp_path / "ts.npz", dtype="float32")
    assert table.x.dtype == np.float64  # an .npz's x is kept as stored
    assert len(table.notes) == 1 and "feature 1 of 2" in table.notes[0] and "float64" in table.notes[0]
    assert read_table(tmp_path / "ts.npz", dtype="float64").notes == ()
    np.savez(tmp_path / "plain.npz", x=rng.normal(size=(100, 2)), y=y)
    assert read_table(tmp_path / "plain.npz", dtype="float32").notes == ()


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_train_on_such_an_npz_prints_the_note(tmp_path):
    from cli_in_process import run_cli

    rng = np.random.default_rng(0)
    x = np.c_[1e9 + rng.uniform(0, 50, 100), rng.normal(size=100)]
    np.savez(tmp_path / "ts.npz", x=x, y=(x[:, 0] > 1e9 + 25).astype(np.int64))
    r = run_cli("train", "--dataset", tmp_path / "ts.npz", "--epochs", "1", "--out", tmp_path / "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "float32 keeps these values only to within" in r.stderr and "--dtype float64" in r.stderr


def test_float16_labels_in_an_npz_load_without_a_stray_overflow_warning(tmp_path):
    """Comparing a float16 label with the 100,000-class limit cast the limit to float16
    (inf), and every run printed 'RuntimeWarning: overflow encountered in cast'."""
    import warnings

    x = np.random.default_rng(0).normal(size=(20, 3))
    np.savez(tmp_path / "f16.npz", x=x, y=(x[:, 0] > 0).astype(np.float16))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = read_table(tmp_path / "f16.npz")
    np.testing.assert_array_equal(table.y, (x[:, 0] > 0).astype(np.int64))
