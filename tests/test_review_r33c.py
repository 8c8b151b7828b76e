"""Review of the CSV header and serve changes: a request body left unread is never read as
the next request, a client's Connection: close is kept, and --label-column digits reach
the CSV reader as the user wrote them."""

from __future__ import annotations

import http.client
import json
import socket

import numpy as np
import pytest
from test_serve_http import running_server, save_model

from deltaprop.data import read_table

BODY = json.dumps({"pixels": [[0] * 28] * 28}).encode()


@pytest.fixture
def server(tmp_path):
    save_model(tmp_path / "m.safetensors")
    with running_server(tmp_path / "m.safetensors") as running:
        yield running


@pytest.mark.parametrize("path, headers", [("/api/predcit", {}), ("/api/predict", {"Origin": "http://elsewhere"})])
def test_a_post_refused_before_its_body_is_read_does_not_spoil_the_next_request(server, path, headers):
    """Its body stayed on the kept-alive connection and was read as the next request line:
    a client that retried on the same connection got '400 Bad request syntax' for a good one."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("POST", path, body=BODY, headers={"Content-Type": "application/json", **headers})
        first = conn.getresponse()
        first.read()
        assert first.status in (403, 405) and first.getheader("Connection") == "close"
        conn.request("POST", "/api/predict", body=BODY, headers={"Content-Type": "application/json"})
        second = conn.getresponse()
        assert second.status == 200, second.read()[:200]
        assert "predicted" in json.loads(second.read())
    finally:
        conn.close()


def _exchange(server, request: bytes) -> bytes:
    """Everything the server sends on one connection until it closes it (or 3 s pass)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=3) as conn:
        conn.sendall(request)
        answer = b""
        try:
            while chunk := conn.recv(65536):
                answer += chunk
        except TimeoutError:
            answer += b"<still open>"
    return answer


def test_a_get_with_a_body_does_not_run_the_body_as_a_request(server):
    inner = f"GET /api/smuggled HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()
    answer = _exchange(server, f"GET /api/model HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                               f"Content-Length: {len(inner)}\r\n\r\n".encode() + inner)
    assert answer.startswith(b"HTTP/1.1 200") and answer.count(b"HTTP/1.1 ") == 1, answer[-200:]
    assert b"smuggled" not in answer and not answer.endswith(b"<still open>")


@pytest.mark.parametrize("version, header", [("HTTP/1.0", ""), ("HTTP/1.1", "Connection: close\r\n")])
def test_a_post_from_a_client_that_asked_to_close_is_closed_after_the_answer(server, version, header):
    """Reading the body whole set the connection to stay open, whatever the client asked."""
    answer = _exchange(server, f"POST /api/predict {version}\r\nHost: 127.0.0.1:{server.port}\r\n"
                               f"Content-Type: application/json\r\n{header}Content-Length: {len(BODY)}\r\n\r\n"
                               .encode() + BODY)
    assert answer.startswith(b"HTTP/1.1 200") and not answer.endswith(b"<still open>")


# ---------------------------------------------------------------- --label-column digits
def _header_of_numbers(path):
    """A header 1,2,...,7 above 40 rows: pixels 0..255 in columns 1-3, 0/1 ids in 4-7."""
    rng = np.random.default_rng(2)
    rows = np.column_stack([rng.integers(0, 256, size=(40, 3)), rng.integers(0, 2, size=(40, 4))])
    path.write_text("1,2,3,4,5,6,7\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return rows


def test_train_label_column_digits_that_a_header_of_numbers_names_elsewhere_are_refused(tmp_path, capsys):
    """The configuration turned '5' into the index 5 before the reader saw it, so train took
    the column named '6' without a word where load_arrays refuses '5' as ambiguous."""
    from deltaprop.cli import main

    _header_of_numbers(tmp_path / "d.csv")
    code = main(["train", "--dataset", str(tmp_path / "d.csv"), "--label-column", "5", "--epochs", "1",
                 "--out", str(tmp_path / "run"), "-q"])
    assert code != 0 and not (tmp_path / "run" / "model.safetensors").exists()
    assert "label column '5' is both the name of column 5 of 7 and the index of another" in capsys.readouterr().err


def test_label_column_digits_are_kept_as_written_and_still_index_a_file(tmp_path):
    from deltaprop.config import TrainConfig

    rows = _header_of_numbers(tmp_path / "d.csv")
    assert TrainConfig.from_mapping({"label_column": " 5 "}).label_column == "5"
    assert TrainConfig.from_mapping({"label_column": 5}).label_column == 5
    column = TrainConfig.from_mapping({"label_column": "-3"}).label_column
    np.testing.assert_array_equal(read_table(tmp_path / "d.csv", label_column=column).y, rows[:, 4])


# ---------------------------------------------------------------- a header 1,2,...,n: the file read once
@pytest.mark.parametrize("first, header", [("1,2,3,4", True), ("1,2", False)])
def test_a_first_line_1_to_n_has_the_file_read_once(tmp_path, monkeypatch, first, header):
    """Telling the header 1,2,...,n from a row read the whole file, then the reader read it
    again: twice the time on a large table (1.2 s instead of 0.6 s for 20,000 rows of 785)."""
    from deltaprop.data import arrays

    rng = np.random.default_rng(4)
    width = len(first.split(","))
    low = 100 if header else 0  # 1,2,3 outside 100..109 widened by its width: no row; 1 in 0..9 is one
    rows = np.column_stack([rng.integers(low, low + 10, size=(30, width - 1)), np.arange(30) % 3])
    path = tmp_path / "d.csv"
    path.write_text(first + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    reads = []
    original = arrays._read_numbers
    monkeypatch.setattr(arrays, "_read_numbers", lambda *args: reads.append(args) or original(*args))
    table = read_table(path, label_column=-1)
    assert len(reads) == 1
    assert (table.feature_names is not None) == header and len(table.y) == 30 + (not header)
    np.testing.assert_array_equal(table.y[-30:], rows[:, -1])
    np.testing.assert_array_equal(table.x[-30:], rows[:, :-1])


# ---------------------------------------------------------------- a header 1,2,...,n: advice and notes
def _pixels_and_ids(path):
    """A header 1,2,3 above two pixel columns (0..255) and 0/1 ids: both ends could be labels."""
    rng = np.random.default_rng(0)
    rows = np.column_stack([rng.integers(0, 256, size=(30, 2)), np.arange(30) % 2])
    path.write_text("1,2,3\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return rows


def test_the_flags_said_to_choose_a_label_column_under_a_header_of_numbers_are_accepted(tmp_path):
    """'say which with --label-column 1 or --label-column 3': the first is refused as ambiguous
    (the name of column 0, the index of column 1)."""
    from deltaprop.errors import ConfigError, DataError

    path = tmp_path / "d.csv"
    rows = _pixels_and_ids(path)
    with pytest.raises(ConfigError) as info:
        read_table(path)
    flags = [part.split()[0] for part in str(info.value).split("--label-column ")[1:]]
    assert flags == ["0", "-1"]
    np.testing.assert_array_equal(read_table(path, label_column=flags[1]).y, rows[:, -1])
    with pytest.raises(DataError, match=r"the labels \(column '1' \(1 of 3, as named\)\) are 2\d distinct"):
        read_table(path, label_column=flags[0])  # taken as the column named '1', a feature here
    with pytest.raises(ConfigError, match="--label-column p1 or --label-column p3"):  # names that are words: as before
        path.write_text("p1,p2,p3\n" + path.read_text().split("\n", 1)[1])
        read_table(path)


def test_a_header_1_to_n_that_could_not_be_a_row_gets_no_note_that_it_could(tmp_path):
    """The note judged 0,1,...,n-1 (pandas' numbers), not the header's own 1,2,...,n: it said a
    header that cannot be a row (3 above 0/1 ids) might be one, naming pandas."""
    path = tmp_path / "d.csv"
    _pixels_and_ids(path)
    table = read_table(path, label_column=-1)
    assert table.feature_names == ("1", "2") and table.notes == ()
    path.write_text("0,1,2\n" + path.read_text().split("\n", 1)[1])  # pandas' 0,1,2 could be a row: noted
    assert "was read as column numbers" in read_table(path, label_column=-1).notes[0]


def test_a_small_file_under_the_header_1_to_n_a_model_was_trained_under_is_read_under_it(tmp_path):
    """Ten rows or more tell a header 1,2,...,n from a row; a file of 5 rows to score with a
    model trained under that header had its header read as a row, labelled 7: refused as
    'holds class 7, which the model never saw' (or, were 7 a class, scored as an example)."""
    rng = np.random.default_rng(0)
    rows = np.column_stack([rng.integers(0, 256, size=(5, 6)), np.arange(5) % 3])
    path = tmp_path / "few.csv"
    path.write_text("1,2,3,4,5,6,7\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    table = read_table(path, feature_names=("1", "2", "3", "4", "5", "6"), label_column=-1)
    assert table.feature_names == ("1", "2", "3", "4", "5", "6") and table.notes == ()
    np.testing.assert_array_equal(table.y, rows[:, -1])
    np.testing.assert_array_equal(table.x, rows[:, :-1])
    assert len(read_table(path, label_column=-1).y) == 6  # no model's names: 5 rows are too few to tell, a row
    assert len(read_table(path, feature_names=("1", "2", "3", "4", "5", "8"), label_column=-1).y) == 6
