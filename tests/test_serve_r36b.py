"""GET /api/run sends a client only the rows it does not hold yet."""

from __future__ import annotations

import os

import pytest

from test_serve_http import request, running_server, save_model, write_history


def _run(folder, epochs):
    folder.mkdir(exist_ok=True)
    save_model(folder / "checkpoint.safetensors")
    _write(folder, epochs)
    return folder


def _write(folder, epochs, loss=lambda e: 2.0 / e):
    write_history(folder / "history.csv", [{"epoch": e, "loss": loss(e), "accuracy": 0.1, "lr": 0.3}
                                           for e in range(1, epochs + 1)])
    rows = ["epoch,name,type,norm"] + [f"{e},layers.{i},Dense,{e + i}" for e in range(1, epochs + 1) for i in (1, 3)]
    (folder / "diagnostics.csv").write_text("\n".join(rows) + "\n")
    st = (folder / "history.csv").stat()  # a new signature even within one clock tick
    os.utime(folder / "history.csv", ns=(st.st_atime_ns, st.st_mtime_ns + epochs * 1000))


def _held(out):
    return (f"history={len(out['history'])}:{out['history_digest']}"
            f"&diagnostics={len(out['diagnostics'])}:{out['diagnostics_digest']}")


def test_the_second_request_after_one_more_epoch_carries_only_that_epoch(tmp_path):
    """The page fetched the whole history and diagnostics at every change: a run of 20,000
    epochs sent 52 MB a poll. A client that says what it holds gets only the newer rows."""
    run = _run(tmp_path / "run", 5)
    with running_server(run) as server:
        _, full, _ = request(server, "GET", "/api/run")
        assert full["history_from"] == 0 and len(full["history"]) == 5 and len(full["diagnostics"]) == 10
        _write(run, 6)
        _, out, _ = request(server, "GET", f"/api/run?since={full['signature']}&{_held(full)}")
        assert out["epochs"] == 6 and out["history_from"] == 5 and out["diagnostics_from"] == 10
        assert [r["epoch"] for r in out["history"]] == [6]
        assert [(r["epoch"], r["name"]) for r in out["diagnostics"]] == [(6, "layers.1"), (6, "layers.3")]
        _, whole, _ = request(server, "GET", "/api/run")  # a client that sends nothing gets everything
        assert full["history"] + out["history"] == whole["history"]
        assert full["diagnostics"] + out["diagnostics"] == whole["diagnostics"]
        assert out["history_digest"] == whole["history_digest"]


def test_a_replaced_or_rewritten_run_is_sent_whole(tmp_path):
    """A run folder replaced (train --overwrite) or a history rewritten (a resume from an
    earlier checkpoint) has other first rows: appending to what the client holds would draw
    the old run's curves."""
    run = _run(tmp_path / "run", 5)
    with running_server(run) as server:
        _, first, _ = request(server, "GET", "/api/run")
        _write(run, 7, loss=lambda e: 9.0 / e)  # same length and more, other numbers
        _, out, _ = request(server, "GET", f"/api/run?{_held(first)}")
        assert out["history_from"] == 0 and out["diagnostics_from"] == 10  # diagnostics unchanged: appended
        assert [r["loss"] for r in out["history"]] == [9.0 / e for e in range(1, 8)]
        _write(run, 3)  # fewer rows than held
        _, out, _ = request(server, "GET", f"/api/run?{_held(first)}")
        assert out["history_from"] == 0 and len(out["history"]) == 3
        assert out["diagnostics_from"] == 0 and len(out["diagnostics"]) == 6


def test_a_malformed_held_rows_query_is_a_one_line_400(tmp_path):
    run = _run(tmp_path / "run", 2)
    with running_server(run) as server:
        code, out, _ = request(server, "GET", "/api/run?history=two")
        assert code == 400 and "history=N:DIGEST" in out["error"]


def test_a_table_with_quoted_cells_is_always_sent_whole(tmp_path):
    """A quoted cell may span lines: such a table gets no digest, so no client appends to it."""
    run = _run(tmp_path / "run", 2)
    (run / "diagnostics.csv").write_text('epoch,name,norm\n1,"layers.1",0.5\n')
    with running_server(run) as server:
        _, out, _ = request(server, "GET", "/api/run")
        assert out["diagnostics_digest"] is None and out["diagnostics"] == [{"epoch": 1, "name": "layers.1", "norm": 0.5}]
        _, again, _ = request(server, "GET", "/api/run?diagnostics=1:0123abcd")
        assert again["diagnostics_from"] == 0 and again["diagnostics"] == out["diagnostics"]


def _charts(page):
    return page.eval_on_selector_all("#curves path, #diagnostics path, #curves circle",
                                     "els => els.map((e) => e.getAttribute('d') || e.getAttribute('cy'))")


@pytest.mark.slow
def test_the_page_draws_the_same_curves_from_the_rows_it_adds(tmp_path):
    """The page keeps the rows it holds and adds the newer ones: what it draws after one more
    epoch, and after the run folder is replaced, is what a fresh page draws."""
    import shutil

    playwright_api = pytest.importorskip("playwright.sync_api")
    chromium = "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is missing")
    run = _run(tmp_path / "run", 5)
    with running_server(run) as server, playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--headless", "--disable-gpu"])
        errors = []

        def opened():
            page = browser.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(server.url)
            page.click("nav .tab[data-view='run']")
            return page

        def shows(page, epochs):
            page.wait_for_function(f"() => document.querySelector('#run-epochs').textContent === '{epochs}'")

        page = opened()
        shows(page, 5)
        with page.expect_response(lambda r: "history=5:" in r.url and "diagnostics=10:" in r.url, timeout=10_000) as answer:
            _write(run, 6)
        sent = answer.value.json()
        assert sent["history_from"] == 5 and [r["epoch"] for r in sent["history"]] == [6]
        shows(page, 6)
        fresh = opened()
        shows(fresh, 6)
        assert _charts(page) == _charts(fresh) and len(_charts(page)) > 6
        fresh.close()

        shutil.rmtree(run)  # another run in the same folder: fewer epochs, other numbers
        _run(run, 3)
        _write(run, 3, loss=lambda e: 5.0 + e)
        shows(page, 3)
        fresh = opened()
        shows(fresh, 3)
        assert _charts(page) == _charts(fresh)
        assert page.inner_text("#run-status") == fresh.inner_text("#run-status")
        assert errors == []
        browser.close()
