"""A long run's first ``GET /api/run`` took about 1.3 s for a 20,000-epoch parity run (16 MB
of diagnostics.csv): every cell of both tables went through the csv module and Python
floats to choose the rows a long series is drawn by. The columns are now read by NumPy's
tokenizer, and the answers kept while the files stay the same; the rows sent are the same.
These tests check the answer against the rule written out here, row by row, in Python."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os

import numpy as np
import pytest

from deltaprop.serve import run as run_files
from test_serve_http import request, running_server

try:
    from deltaprop.serve import thinning as thin_module
except ImportError:  # the tables were read in run.py
    thin_module = run_files
SERIES_ROWS, STRETCHES = run_files.SERIES_ROWS, run_files.STRETCHES
ALERTS = (7, 1234, 1900)
HISTORY = "epoch,loss,accuracy,val_loss,note,seconds,steps"
DIAGNOSTICS = "epoch,probe_size,name,layer,type,mean,std,identical_units,grad_norm,norm"


def _value(cell):
    """A cell as the page gets it: a finite number, None when empty or not finite, or the text."""
    cell = cell.strip()
    if cell == "":
        return None
    try:
        value = float(cell)
    except ValueError:
        return cell
    return value if math.isfinite(value) else None


def _expected(path, by=None, marks=()):
    """The records :func:`read_run` sends of ``path``, by the rule: a series (the rows of one
    ``by`` name) of more than SERIES_ROWS rows is cut into stretches of ⌈n / STRETCHES⌉ rows, of
    which the first, the last, and each column's lowest and highest (the first of equal ones)
    are kept, with the series' last row and the rows of the ``marks`` epochs."""
    rows = list(csv.reader([line for line in path.read_text().splitlines() if line]))
    header, body = [h.strip() for h in rows[0]], rows[1:]
    numbers = [[v if isinstance(v := _value(c), float) else None for c in row] for row in body]
    series = {}
    for i, row in enumerate(body):
        series.setdefault(row[header.index(by)].strip() if by else "", []).append(i)
    kept = set()
    for index in series.values():
        if len(body) <= SERIES_ROWS or len(index) <= SERIES_ROWS:
            kept.update(index)
            continue
        width = -(-len(index) // STRETCHES)
        kept.add(index[-1])
        kept.update(i for i in index if numbers[i][0] in marks)
        for s in range(0, len(index), width):
            stretch = index[s:s + width]
            kept.update((stretch[0], stretch[-1]))
            for j, name in enumerate(header):
                found = [(numbers[i][j], i) for i in stretch if j < len(numbers[i]) and numbers[i][j] is not None]
                if found and name not in ("epoch", by):
                    kept.add(min(found, key=lambda p: p[0])[1])  # min and max give the first of equal ones
                    kept.add(max(found, key=lambda p: (p[0], -p[1]))[1])
    sent = [body[i] for i in sorted(kept)]
    return [{k: _value(c) for k, c in zip(header, row)} for row in sent], len(body) - len(sent)


def _cells(e, rng):
    """One epoch's history row and diagnostics rows: repr floats, ties, empty cells, text,
    non-finite values, spaces, exponents and underscores, as a hand-edited table may hold."""
    odd = rng.choice(["", "nan", "inf", "-1e400", "text", " 0.25 ", "1_0", "-0.0", "0.0", "+.5", "1e-400",
                      "Infinity", "3.", "2.5e-3", "1.2.3"])
    loss = odd if e % 7 == 0 else repr(0.01 + abs(e - 2222) / 3000 + 1e-3 * math.sin(e * 1.7))
    history = f"{e},{loss},{round(rng.random(), 1)!r},{rng.gauss(0, 1)!r},{rng.choice(['', 'False', 'x'])}," \
              f"{rng.random()!r},{e * 4}"
    dense = f"{e},512,layers.0,0,Dense,{rng.gauss(0, 1)!r},{1 + 1e-4 * e!r},False,,"
    weight = f"{e},512, layers.0.W ,0,parameter,,,,{2.0 if e == 1500 else 1 / e!r},{rng.choice(['3', '3.0', ''])}"
    return history, [dense, weight]


def _write_run(folder, epochs, seed=0, *, extra_line=None):
    """A run folder as ``deltaprop train`` leaves it, with alerts at ALERTS and odd cells."""
    rng = np.random.default_rng(seed)
    pick = type("Pick", (), {"choice": staticmethod(lambda xs: xs[rng.integers(len(xs))]),
                             "random": staticmethod(rng.random), "gauss": staticmethod(rng.normal)})
    folder.mkdir(exist_ok=True)
    history, diagnostics = [HISTORY], [DIAGNOSTICS]
    for e in range(1, epochs + 1):
        h, d = _cells(e, pick)
        history.append(h)
        diagnostics += d
    if extra_line is not None:
        diagnostics.insert(len(diagnostics) // 2, extra_line)
    (folder / "history.csv").write_text("\n".join(history) + "\n")
    (folder / "diagnostics.csv").write_text("\n".join(diagnostics) + "\n")
    (folder / "alerts.json").write_text(json.dumps([{"rule": "r", "epoch": a, "evidence": "e", "fix": "f"}
                                                    for a in ALERTS]))
    return folder


def _check(out, folder, marks=()):
    marks = {*marks, *ALERTS}
    history, left_out = _expected(folder / "history.csv", marks=marks)
    assert out["history"] == history and out["history_thinned"] == left_out > 0
    diagnostics, left_out = _expected(folder / "diagnostics.csv", by="name", marks=marks)
    assert out["diagnostics"] == diagnostics and out["diagnostics_thinned"] == left_out > 0


@pytest.mark.slow  # 0.2 to 0.5 s
def test_a_long_run_with_alerts_is_sent_the_rows_the_rule_keeps(tmp_path, monkeypatch):
    """Every stretch's first, last, lowest and highest, the alerts' and the model's epochs,
    read a few thousand rows at a time; the same answer over HTTP."""
    monkeypatch.setattr(thin_module, "CHUNK_ROWS", 1000)
    run = _write_run(tmp_path / "run", 2000)
    _check(run_files.read_run(run, None, {1700}), run, {1700})
    with running_server(run) as server:
        status, out, _ = request(server, "GET", "/api/run")
    assert status == 200
    _check(out, run)
    assert {ALERTS[1], 2000} <= {r["epoch"] for r in out["history"]}
    assert max((r for r in out["diagnostics"] if r["name"] == "layers.0.W"), key=lambda r: r["grad_norm"])["epoch"] == 1500


@pytest.mark.parametrize("line", [
    "1500,512,layers.0,0,Dense,0.5,1.0,False,,,,",  # longer than the others: this chunk goes through csv
    "1500,512,layers.0,0,Dense,0.5",  # shorter
    f"1500,512,layers.0,0,Dense,1{'0' * 35}e-40,0.{'0' * 40}1,False,,",  # wider than first tried (cut: 1e31)
    f"1500,512,{'layers.0' * 8},0,Dense,0.5,1.0,False,,",  # a name as wide
    "1500,512,couche-é,0,Dense,0.5,-7.0,False,,",  # not ASCII
    "1500,512,layers.0,0,Dense,9\09,1.0,False,,",  # a NUL: text
    "1500,512,layers.0,0,Dense,99\0,1.0,False,,",  # text too, as the page shows it (it was taken for 99)
], ids=["longer", "shorter", "wide-numbers", "wide-name", "not-ascii", "nul", "nul-at-end"])
@pytest.mark.slow  # about 1.3 s in the quick suite on 2 cores
def test_odd_rows_among_plain_ones_are_read_as_the_csv_module_reads_them(tmp_path, monkeypatch, line):
    monkeypatch.setattr(thin_module, "CHUNK_ROWS", 1000)
    run = _write_run(tmp_path / "run", 2000, seed=1, extra_line=line)
    _check(run_files.read_run(run), run)


@pytest.mark.slow  # 0.4 to 1 s
def test_a_cell_over_the_csv_modules_limit_is_still_said_and_a_wide_one_read(tmp_path, monkeypatch):
    """A cell of 200 kB is no table training writes: said as before; one of 5 kB is read, the
    tokenizer's cells kept under the memory allowed (the csv module reads that chunk)."""
    run = _write_run(tmp_path / "run", 2000, seed=8, extra_line=f"1500,512,layers.0,0,{'D' * 200_000},0.5,1.0,False,,")
    out = run_files.read_run(run)
    assert out["diagnostics"] is None and "cannot be read as CSV" in out["diagnostics_error"]
    _write_run(run, 2000, seed=8, extra_line=f"1500,512,layers.0,0,{'D' * 5_000},0.5,1.0,False,,")
    if hasattr(thin_module, "CELLS_BYTES"):
        monkeypatch.setattr(thin_module, "CELLS_BYTES", 8 << 20)
    _check(run_files.read_run(run), run)


def test_a_table_with_quoted_cells_gets_the_same_rows(tmp_path):
    """Quoting the header (a table with quotes is parsed whole by the csv module) changes nothing sent."""
    run = _write_run(tmp_path / "run", 2000, seed=2)
    plain = run_files.read_run(run)
    text = (run / "history.csv").read_text()
    (run / "history.csv").write_text('"epoch"' + text[len("epoch"):])
    quoted = run_files.read_run(run)
    assert quoted["history"] == plain["history"] and quoted["history_thinned"] == plain["history_thinned"]
    assert quoted["history_digest"] is None
    _check(plain, run)


def test_only_the_rows_sent_go_through_the_csv_module(tmp_path, monkeypatch):
    """Choosing the rows of a long table turned each of its cells into a Python object; now
    the csv module reads the header and the rows sent (the records), and NumPy the rest."""
    run = _write_run(tmp_path / "run", 2000, seed=3)
    parsed = []
    reader = csv.reader

    def counting(lines, *args, **kwargs):
        for row in reader(lines, *args, **kwargs):
            parsed.append(row)
            yield row

    monkeypatch.setattr(csv, "reader", counting)
    out = run_files.read_run(run)
    sent = len(out["history"]) + len(out["diagnostics"])
    assert out["history_thinned"] > 0 and out["diagnostics_thinned"] > 0
    assert len(parsed) <= sent + 3  # a header each (and alerts: none here)


def test_a_short_table_is_sent_whole_and_an_absent_one_is_none(tmp_path):
    run = _write_run(tmp_path / "run", SERIES_ROWS // 2)
    out = run_files.read_run(run)
    assert len(out["history"]) == SERIES_ROWS // 2 and len(out["diagnostics"]) == SERIES_ROWS
    assert out["history_thinned"] == out["diagnostics_thinned"] == 0
    os.remove(run / "diagnostics.csv")
    assert run_files.read_run(run)["diagnostics"] is None


def _counting_reads(monkeypatch):
    """The tables read_run reads from now on, as folder/name, one a read."""
    reads, read_text = [], run_files.read_text

    def counting(path, **kwargs):
        if str(path).endswith(".csv"):
            reads.append(f"{os.path.basename(os.path.dirname(path))}/{os.path.basename(path)}")
        return read_text(path, **kwargs)

    monkeypatch.setattr(run_files, "read_text", counting)
    return reads


def test_a_reload_of_an_unchanged_run_reads_no_table_again(tmp_path, monkeypatch):
    """Each load of the page read and thinned both tables again, though neither had changed."""
    run = _write_run(tmp_path / "run", 2000, seed=4)
    reads = _counting_reads(monkeypatch)
    with running_server(run) as server:
        first = request(server, "GET", "/api/run")[1]
        again = request(server, "GET", "/api/run")[1]
    assert again == first and sorted(reads) == ["run/diagnostics.csv", "run/history.csv"]
    assert first["history_thinned"] > 0 and first["diagnostics_thinned"] > 0


def test_a_table_that_changes_is_read_again(tmp_path, monkeypatch):
    """A table replaced as training replaces it (a new file renamed over the old), rewritten
    in place with another time, or grown, is read again; the other table is not."""
    run = _write_run(tmp_path / "run", 2000, seed=5)
    first = run_files.read_run(run)
    reads = _counting_reads(monkeypatch)
    st = (run / "diagnostics.csv").stat()
    (run / "new.csv").write_text((run / "diagnostics.csv").read_text().replace("Dense", "Dens2"))
    os.replace(run / "new.csv", run / "diagnostics.csv")  # a new file of the same size
    os.utime(run / "diagnostics.csv", ns=(st.st_atime_ns, st.st_mtime_ns))  # and time
    assert (run / "diagnostics.csv").stat().st_size == st.st_size
    replaced = run_files.read_run(run)
    assert replaced["history"] == first["history"]
    assert [{**r, "type": r["type"].replace("Dens2", "Dense")} for r in replaced["diagnostics"]] == first["diagnostics"]
    assert "Dens2" in {r["type"] for r in replaced["diagnostics"]}
    text = (run / "history.csv").read_text()
    (run / "history.csv").write_text(text.replace("\n2,", "\n9,", 1))  # the same size, in place
    os.utime(run / "history.csv", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    edited = run_files.read_run(run)
    assert edited["history"][1]["epoch"] == 9
    with open(run / "history.csv", "a") as f:
        f.write("2001,0.5,0.5,0.5,,0.1,8004\n")
    grown = run_files.read_run(run, {"history": (first["history_rows"], first["history_digest"])})
    assert grown["history_from"] == 0 and grown["epochs"] == 2001  # the file no longer starts as it did
    assert grown["history"][-1]["epoch"] == 2001 and grown["history"][1]["epoch"] == 9
    assert [r for r in reads if r.startswith("run/")] == ["run/diagnostics.csv", "run/history.csv", "run/history.csv"]


def _prefix_digest(path, rows):
    """The digest read_run gives for the first ``rows`` rows of a plain table."""
    lines = [line for line in path.read_text().splitlines() if line][:rows + 1]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:20]


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_a_poll_is_answered_for_its_own_rows_held_and_marks(tmp_path):
    """An answer is kept for the question asked: rows held, and the epochs whose rows are kept."""
    run = _write_run(tmp_path / "run", 2000, seed=7)
    plain = {r["epoch"] for r in run_files.read_run(run)["history"]}
    one, two = [e for e in range(1500, 2000) if e not in plain][:2]  # rows the thinning leaves out
    whole = run_files.read_run(run, None, {one})
    assert {r["epoch"] for r in whole["history"]} == plain | {one}
    other = run_files.read_run(run, None, {two})
    assert {r["epoch"] for r in other["history"]} == plain | {two}
    held = {"history": (whole["history_rows"] - 1, _prefix_digest(run / "history.csv", whole["history_rows"] - 1))}
    tail = run_files.read_run(run, held, {one})
    assert tail["history_from"] == 1999 and [r["epoch"] for r in tail["history"]] == [2000]
    assert run_files.read_run(run, None, {one}) == whole


def test_a_table_over_the_size_read_is_said_again_not_an_answer_kept_before(tmp_path, monkeypatch):
    run = _write_run(tmp_path / "run", 50)
    assert run_files.read_run(run)["history_error"] is None
    monkeypatch.setattr(run_files, "MAX_TABLE_BYTES", (run / "history.csv").stat().st_size - 1)
    out = run_files.read_run(run)
    assert out["history"] == [] and "bytes, more than" in out["history_error"]
    monkeypatch.undo()
    assert run_files.read_run(run)["history_error"] is None
