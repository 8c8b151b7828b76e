"""A long run's first load: ``GET /api/run`` sends each long series thinned (the first, last,
lowest and highest of each short stretch), so a 20,000-epoch run's page loads a few hundred
kB, not tens of MB; the full tables stay a download away."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import math
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import serve
from deltaprop.serialization import save_checkpoint
from deltaprop.serve import run as run_files
from chromium_session import fresh_page, launched_chromium
from test_serve_http import UNIT, request, running_server, save_model

SERIES_ROWS = getattr(run_files, "SERIES_ROWS", 1000)  # a longer series is sent thinned
STRETCHES = getattr(run_files, "STRETCHES", 250)  # to about this many stretches
HISTORY_KEYS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "steps")
SERIES = ("layers.0", "layers.0.W")
BEST, SPIKE, ALERT = 12_345, 4_321, 2_345


def _loss(e):
    """Falls to its lowest at BEST, rises after; a spike at SPIKE; a little noise."""
    return 9.0 if e == SPIKE else 0.01 + abs(e - BEST) / 20_000 + 1e-3 * math.sin(e * 1.7)


def _history_rows(epochs):
    for e in range(1, epochs + 1):
        yield (f"{e},{_loss(e)!r},{min(1.0, e / 5000)!r},{_loss(e) + 0.1!r},0.5,0.1,"
               f"{0.01 + 1e-3 * math.cos(e)!r},{e * 4}")


def _write_run(folder, epochs, *, model=True):
    """A run folder as ``deltaprop train`` leaves it: history.csv and diagnostics.csv of
    ``epochs`` epochs (two series), an alert at ALERT."""
    folder.mkdir(exist_ok=True)
    if model:
        save_model(folder / "model.safetensors")
    lines = [",".join(HISTORY_KEYS), *_history_rows(epochs)]
    (folder / "history.csv").write_text("\n".join(lines) + "\n")
    diag = ["epoch,probe_size,name,layer,type,mean,std,delta_norm,identical_units,grad_norm,norm"]
    for e in range(1, epochs + 1):
        diag.append(f"{e},512,layers.0,0,Dense,{math.sin(e / 50)!r},{1 + 1e-4 * e!r},{1 / e!r},False,,")
        diag.append(f"{e},512,layers.0.W,0,parameter,,,,,{2.0 if e == SPIKE else 1 / e!r},{1 + e!r}")
    (folder / "diagnostics.csv").write_text("\n".join(diag) + "\n")
    (folder / "alerts.json").write_text(json.dumps([{"rule": "r", "epoch": ALERT, "evidence": "e", "fix": "f"}]))
    return folder


def _get(server, path, headers=None):
    status, out, res = request(server, "GET", path, headers=headers)
    assert status == 200, out
    return out, res


@pytest.mark.slow  # about a second
def test_the_first_load_of_a_long_run_is_small_and_keeps_what_its_curves_need(tmp_path):
    """The page's first GET /api/run of a 20,000-epoch run with diagnostics sent every row,
    about 57 MB. A long series is now sent thinned: bounded in size, yet with the first and
    last epoch, every column's lowest and highest value, the alert's epoch, and each record
    exactly as the file holds it."""
    epochs = 20_000
    run = _write_run(tmp_path / "run", epochs)
    with running_server(run) as server:
        status, raw, res = request(server, "GET", "/api/run", headers={"Accept": "*/*"})
        size = int(res.getheader("Content-Length"))
    assert status == 200 and size < 1_000_000  # every row: about 6 MB for this run
    out = raw
    history, diagnostics = out["history"], out["diagnostics"]
    assert out["epochs"] == out["history_rows"] == epochs
    assert len(history) + out["history_thinned"] == epochs and out["history_thinned"] > 0
    assert out["diagnostics_rows"] == 2 * epochs == len(diagnostics) + out["diagnostics_thinned"]
    epochs_sent = [r["epoch"] for r in history]
    assert epochs_sent == sorted(set(epochs_sent)) and epochs_sent[0] == 1 and epochs_sent[-1] == epochs
    assert len(history) <= STRETCHES * (2 + 2 * len(HISTORY_KEYS)) + 2
    file_rows = {int(line.split(",")[0]): line for line in _history_rows(epochs)}
    for record in history:  # each sent record is the file's row, unchanged
        assert ",".join(repr(record[k]) if k not in ("epoch", "steps") else str(int(record[k]))
                        for k in HISTORY_KEYS) == file_rows[int(record["epoch"])]
    for key in ("loss", "accuracy", "val_loss", "seconds"):
        values = [float(line.split(",")[HISTORY_KEYS.index(key)]) for line in file_rows.values()]
        assert min(r[key] for r in history) == min(values) and max(r[key] for r in history) == max(values)
    assert min(history, key=lambda r: r["loss"])["epoch"] == min(range(1, epochs + 1), key=_loss)
    assert {ALERT, SPIKE} <= set(epochs_sent)
    for name in SERIES:
        own = [r for r in diagnostics if r["name"] == name]
        assert own[0]["epoch"] == 1 and own[-1]["epoch"] == epochs and len(own) < 2 * SERIES_ROWS
        assert ALERT in {r["epoch"] for r in own}
    weights = [r for r in diagnostics if r["name"] == "layers.0.W"]
    assert max(weights, key=lambda r: r["grad_norm"])["epoch"] == SPIKE  # the spike, not thinned away
    assert min(r["grad_norm"] for r in weights) == 1 / epochs


def test_a_short_run_is_sent_whole(tmp_path):
    run = _write_run(tmp_path / "run", SERIES_ROWS)
    with running_server(run) as server:
        out, _ = _get(server, "/api/run")
    assert [r["epoch"] for r in out["history"]] == list(range(1, SERIES_ROWS + 1))
    assert len(out["diagnostics"]) == 2 * SERIES_ROWS and out["history_thinned"] == out["diagnostics_thinned"] == 0


@pytest.mark.slow  # about a second
def test_the_rows_after_a_thinned_load_come_whole_and_follow_it(tmp_path):
    """A client holds the rows a thinned answer covered (history_rows), not the records it got:
    the next epoch comes alone, after them."""
    run = _write_run(tmp_path / "run", 5000)
    with running_server(run) as server:
        first, _ = _get(server, "/api/run")
        with open(run / "history.csv", "a") as f:
            f.write("5001,0.5,0.5,0.6,0.5,0.1,0.01,20004\n")
        held = f"history={first['history_rows']}:{first['history_digest']}"
        out, _ = _get(server, f"/api/run?{held}")
        assert out["history_from"] == 5000 and out["epochs"] == out["history_rows"] == 5001
        assert out["history"] == [{"epoch": 5001, "loss": 0.5, "accuracy": 0.5, "val_loss": 0.6, "val_accuracy": 0.5,
                                   "lr": 0.1, "seconds": 0.01, "steps": 20004}]
        assert out["history_thinned"] == 0
        # the count of records held is no count of rows: not taken as a prefix of the file
        wrong, _ = _get(server, f"/api/run?history={len(first['history'])}:{first['history_digest']}")
        assert wrong["history_from"] == 0 and wrong["history"][-1]["epoch"] == 5001


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_the_epoch_of_the_models_weights_is_kept_in_a_thinned_history(tmp_path):
    """The page marks the epoch whose weights it serves: that record is sent."""
    run = _write_run(tmp_path / "run", 5000, model=False)

    def keep(state):
        if state.epoch == 3:
            save_checkpoint(run / "checkpoint.safetensors", state, class_names=[str(i) for i in range(10)],
                            input_scaling=UNIT)

    x = np.random.default_rng(0).uniform(0, 1, size=(20, 784)).astype(np.float32)
    dp.fit(dp.mlp([784, 4, 10], seed=0), x, np.arange(20) % 10, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1),
           epochs=3, batch_size=20, callbacks=[dp.LambdaCallback(on_epoch_end=keep)])
    with running_server(run) as server:
        model, _ = _get(server, "/api/model")
        out, _ = _get(server, "/api/run")
    assert model["epoch"] == 3 and out["history_thinned"] > 0
    assert 3 in {r["epoch"] for r in out["history"]}


def test_the_full_tables_are_a_download(tmp_path):
    run = _write_run(tmp_path / "run", 3000)
    with running_server(run) as server:
        for name in ("history.csv", "diagnostics.csv"):
            body, res = _get(server, f"/run/{name}")
            assert body == (run / name).read_bytes()
            assert res.getheader("Content-Type").startswith("text/csv")
            assert res.getheader("Content-Disposition") == f'attachment; filename="{name}"'
        (run / "diagnostics.csv").unlink()
        status, out, _ = request(server, "GET", "/run/diagnostics.csv")
        assert status == 404 and "diagnostics.csv" in out["error"]
    with running_server(run / "model.safetensors") as server:
        status, out, _ = request(server, "GET", "/run/history.csv")
        assert status == 404 and "model file" in out["error"]


def _raw(server, path, encoding):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", path, headers={"Accept-Encoding": encoding})
    res = conn.getresponse()
    body = res.read()
    conn.close()
    return body, res


def test_answers_go_gzipped_to_a_client_that_takes_it(tmp_path):
    run = _write_run(tmp_path / "run", 200)
    with running_server(run) as server:
        plain, res = _raw(server, "/api/run", "identity")
        assert res.getheader("Content-Encoding") is None
        packed, res = _raw(server, "/api/run", "gzip, deflate, br")
        assert res.status == 200 and res.getheader("Content-Encoding") == "gzip"
        assert res.getheader("Vary") == "Accept-Encoding" and len(packed) < len(plain) / 3
        assert int(res.getheader("Content-Length")) == len(packed)
        assert json.loads(gzip.decompress(packed)) == json.loads(plain)
        script, res = _raw(server, "/app.js", "gzip")
        assert gzip.decompress(script) == (Path(serve.__file__).parent / "static" / "app.js").read_bytes()
        _, res = _raw(server, "/api/run", "gzip;q=0, identity")
        assert res.getheader("Content-Encoding") is None


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module's browser tests, each on a page of its own."""
    with launched_chromium() as launched:
        yield launched


@contextlib.contextmanager
def _run_view(browser, run: Path, before_load=lambda page: None):
    """The served page of ``run`` in ``browser`` (a context of its own), on its run view
    (``before_load``: called with the page before it loads, e.g. to listen to its requests)."""
    with running_server(run) as server, fresh_page(browser) as page:
        before_load(page)
        page.goto(server.url)
        page.click("nav .tab[data-view='run']")
        yield page


@pytest.mark.slow
def test_the_page_of_a_long_run_loads_small_and_shows_its_last_and_best_epochs(tmp_path, browser):
    """In a browser: a 20,000-epoch run's first load transfers well under 1 MB (it was about
    57 MB); the status names the last epoch's loss, the loss chart hovers its lowest point,
    the page says the run is drawn thinned and links the full tables; one more epoch is added."""
    epochs = 20_000
    run = _write_run(tmp_path / "run", epochs)
    errors, sizes = [], {}

    def listen(page):
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfinished", lambda r: sizes.setdefault(r.url, r.sizes()["responseBodySize"]))

    with _run_view(browser, run, listen) as page:
        page.wait_for_function(f"() => document.querySelector('#run-epochs').textContent === '{epochs}'")
        page.wait_for_selector(".chart[data-title='loss'] circle")
        assert sum(sizes.values()) < 1_000_000
        last = _loss(epochs)
        assert f"last loss {last:.4f}" in page.inner_text("#run-status")
        tips = page.eval_on_selector_all(".chart[data-title='loss'] circle[data-series='loss'] title",
                                         "els => els.map((e) => e.textContent)")
        best = min(range(1, epochs + 1), key=_loss)
        assert any(t.startswith(f"loss, epoch {best}:") for t in tips)
        assert any(t.startswith(f"loss, epoch {epochs}:") for t in tips)
        assert any(t.startswith(f"loss, epoch {SPIKE}:") for t in tips)
        note = page.inner_text("#run-files")
        assert "history.csv" in note and "diagnostics.csv" in note and f"of its {epochs} epochs" in note
        assert page.get_attribute("#history-file", "href") == "/run/history.csv"
        assert page.locator("#diagnostics .chart").count() >= 5
        with open(run / "history.csv", "a") as f:
            f.write(f"{epochs + 1},0.5,0.5,0.6,0.5,0.1,0.01,1\n")
        page.wait_for_function(f"() => document.querySelector('#run-epochs').textContent === '{epochs + 1}'")
        assert "last loss 0.5000" in page.inner_text("#run-status")
        assert errors == []


def test_a_table_too_big_to_draw_is_said_not_shown_as_none(tmp_path, monkeypatch):
    """A history.csv or diagnostics.csv over the size the server reads was left out without a
    word: the page said "0 epochs" and hid the diagnostics, as of a run that wrote none."""
    run = _write_run(tmp_path / "run", 50)
    monkeypatch.setattr(run_files, "MAX_TABLE_BYTES", (run / "history.csv").stat().st_size - 1)
    with running_server(run) as server:
        out, _ = _get(server, "/api/run")
    assert out["epochs"] is None and out["history"] == []
    assert "history.csv" in out["history_error"] and "bytes, more than" in out["history_error"]
    assert out["diagnostics"] is None and "diagnostics.csv" in out["diagnostics_error"]
    (run / "diagnostics.csv").unlink()
    with running_server(run) as server:
        out, _ = _get(server, "/api/run")
    assert out["diagnostics"] is None and out["diagnostics_error"] is None  # absent: nothing to say


@pytest.mark.slow
def test_a_diagnostics_table_over_16_mb_is_drawn(tmp_path):
    """20,000 epochs of a network with two hidden layers write about 24 MB of diagnostics.csv:
    over the 16 MB the server read, so the page showed no diagnostics at all."""
    run = _write_run(tmp_path / "run", 100)
    row = ",512,layers.{i},{i},Dense,0.123456789012345,0.98765432109876,0.01234567890123,False,,"
    lines = ["epoch,probe_size,name,layer,type,mean,std,delta_norm,identical_units,grad_norm,norm"]
    lines += [f"{e}" + row.format(i=i) for e in range(1, 20_001) for i in range(12)]
    (run / "diagnostics.csv").write_text("\n".join(lines) + "\n")
    assert (run / "diagnostics.csv").stat().st_size > 16 << 20
    with running_server(run) as server:
        out, _ = _get(server, "/api/run")
    assert out["diagnostics_error"] is None and out["diagnostics_rows"] == 240_000
    for i in range(12):
        own = [r["epoch"] for r in out["diagnostics"] if r["name"] == f"layers.{i}"]
        assert own[0] == 1 and own[-1] == 20_000 and len(own) < SERIES_ROWS


@pytest.mark.slow
def test_the_page_says_a_table_is_too_big_to_draw(tmp_path, monkeypatch, browser):
    run = _write_run(tmp_path / "run", 50)
    monkeypatch.setattr(run_files, "MAX_TABLE_BYTES", (run / "history.csv").stat().st_size - 1)
    with _run_view(browser, run) as page:
        page.wait_for_function("() => document.querySelector('#run-epochs').textContent === '?'")
        note = page.inner_text("#run-files")
        assert "history.csv is not drawn" in note and "diagnostics.csv is not drawn" in note
        assert "0 epochs" not in page.inner_text("#run-status")


def _diverged_run(folder):
    """A run that diverged in epoch 5, its losses growing to 1e37 over the 4 epochs it finished."""
    folder.mkdir()
    save_model(folder / "checkpoint.safetensors")
    lines = [",".join(HISTORY_KEYS)] + [f"{e},{10.0 ** (9 * e)!r},0.5,{3 * 10.0 ** (9 * e + 1)!r},0.5,2.0,0.01,{32 * e}"
                                        for e in range(1, 5)]
    (folder / "history.csv").write_text("\n".join(lines) + "\n")
    (folder / "diagnostics.csv").write_text("epoch,name,type,mean\n" + "".join(f"{e},layers.3,Identity,{-4.0 * 10 ** (5 * e)!r}\n"
                                                                            for e in range(1, 5)))
    (folder / "run.json").write_text(json.dumps({"status": "diverged", "diverged": {
        "epoch": 5, "step": 135, "lr": 2.0, "message": "the loss is inf"}}))
    return folder


def test_a_diverged_run_says_where_it_diverged(tmp_path):
    """The page said only "4 epochs ... · diverged", as if epoch 4 had: run.json says epoch 5."""
    run = _diverged_run(tmp_path / "run")
    with running_server(run) as server:
        out, _ = _get(server, "/api/run")
        assert out["status"] == "diverged" and out["diverged"] == {"epoch": 5, "step": 135} and out["epochs"] == 4
        (run / "run.json").write_text(json.dumps({"status": "done", "diverged": {"epoch": 5, "step": 135}}))
        out, _ = _get(server, "/api/run")
        assert out["diverged"] is None


@pytest.mark.slow
def test_the_page_of_a_diverged_run_shows_whole_axis_labels_and_where_it_diverged(tmp_path, browser):
    """Tick labels of huge values ("3.00e+37") ran off the chart's left edge, so the loss axis
    read "00e+37"; they are now shorter ("3e+37") and the margin as wide as the longest."""
    run = _diverged_run(tmp_path / "run")
    with _run_view(browser, run) as page:
        page.wait_for_selector("#diagnostics .chart svg text")
        assert "diverged in epoch 5 (step 135)" in page.inner_text("#run-status")
        boxes = page.eval_on_selector_all(".chart svg text", "els => els.map((e) => [e.textContent, e.getBBox().x])")
        labels = [text for text, _ in boxes]
        assert "3e+37" in labels and "-4e+20" in labels
        assert all(x >= 0 for _, x in boxes), [b for b in boxes if b[1] < 0]
