"""What a user sees of a run: report.html and the served page tell the truth about a run that
diverged before its first epoch ended, say what a train point of the curves is, fit a phone's
screen, and name one unit as one."""

from __future__ import annotations

import html
import json
import re
import shutil
import urllib.error
import urllib.request

import pytest
from chromium_session import fresh_page, launched_chromium
from cli_in_process import run_cli
from test_serve_http import running_server

from deltaprop.report_html import render

#: a run whose weights explode in the fourth step of its first epoch: no epoch finishes, so it
#: writes no history.csv, no checkpoint and no model
DIVERGES_AT_ONCE = ("--activation", "identity", "--output-activation", "identity", "--loss", "mse", "--lr", "5",
                    "--epochs", "2", "--threads", "1", "--quiet")


def _text(page: str) -> str:
    page = re.sub(r"<style>.*?</style>|<script>.*?</script>", "", page, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture(scope="module")
def browser():
    """One chromium for the module's browser tests, each on a page of its own."""
    with launched_chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def diverged_at_once(tmp_path_factory):
    out = tmp_path_factory.mktemp("diverged") / "run"
    res = run_cli("train", *DIVERGES_AT_ONCE, "--out", out)
    assert res.returncode == 1 and "no epoch finished, so there is no checkpoint" in res.stderr, res.stderr
    assert not (out / "history.csv").exists() and not (out / "checkpoint.safetensors").exists()
    return out


@pytest.mark.slow
def test_the_report_of_a_run_diverged_in_its_first_epoch_says_the_cause_once_and_that_no_checkpoint_exists(
        diverged_at_once):
    """The page quoted the library's whole message inside its own: "training diverged at epoch 1,
    step 4" twice, that "the network keeps the weights from the start of epoch 1 ... so both can
    be fitted again" (no network was saved), the fix twice ("(--lr (it was 5))"), and "the last
    good checkpoint, if an epoch finished, is the folder's checkpoint.safetensors", a file that
    is not there."""
    facts = json.loads((diverged_at_once / "run.json").read_text())
    assert "The network keeps" in facts["diverged"]["message"]  # what the library says to a caller of fit
    step = facts["diverged"]["step"]  # and whether its loss is nan or inf: by the CPU's BLAS kernels
    assert 1 <= step <= 10
    for page in ((diverged_at_once / "report.html").read_text(encoding="utf-8"),
                 render([], facts)):
        text = _text(page)
        assert re.search(rf"Training diverged at epoch 1, step {step}: the loss became NaN or infinite \(the loss "
                         r"is (nan|inf); layer 1 \(Dense\)'s largest weight grew from", text)
        assert text.lower().count(f"training diverged at epoch 1, step {step}") == 1
        assert "The network keeps" not in text and "fitted again" not in text
        assert text.count("Lower the learning rate") == 1 and "(--lr (it was" not in text
        assert "--lr (it was 5)" in text
        assert "checkpoint.safetensors" not in text and "if an epoch finished" not in text
        assert "No epoch finished, so there are no curves" in text
        assert "there is no checkpoint to resume, so start from fresh weights: deltaprop train --config " \
               "FOLDER/config.toml --lr LOWER --out NEW_FOLDER" in text


def test_a_diverged_report_with_a_finished_epoch_keeps_its_checkpoint_words():
    message = ("training diverged at epoch 3, step 7: the loss is inf. The network keeps the weights from the start "
               "of epoch 3 (largest |w| 2.1), and the SGD optimizer's state (moments, step count) is reset, so both "
               "can be fitted again. Lower the learning rate (--lr; it was 2)")
    records = [{"epoch": e, "loss": 0.5, "accuracy": 0.5, "val_loss": None, "val_accuracy": None, "lr": 2.0}
               for e in (1, 2)]
    text = _text(render(records, {"status": "diverged", "diverged": {"epoch": 3, "step": 7, "lr": 2.0,
                                                                      "message": message}}))
    assert "the loss became NaN or infinite (the loss is inf). The curves stop at the last finished epoch" in text
    assert "the last good checkpoint, if an epoch finished, is the folder's checkpoint.safetensors" in text
    assert "fitted again" not in text
    # a message of another form is shown whole
    text = _text(render([], {"status": "diverged", "diverged": {"message": "the loss is nan"}}))
    assert "the loss became NaN or infinite (the loss is nan)" in text


def test_the_report_says_a_train_point_is_a_mean_over_the_epoch_as_it_trained():
    """The curves put "train" beside "validation" as if both scored the weights at the epoch's
    end; history.csv's loss and accuracy are running means over the epoch's batches (dropout
    on), which is why epoch 1's train loss sat far above its validation loss."""
    records = [{"epoch": 1, "loss": 1.03, "accuracy": 0.72, "val_loss": 0.52, "val_accuracy": 0.88, "lr": 0.3}]
    text = _text(render(records, {"status": "done"}))
    assert "A train point is the mean over the epoch's batches as it trained" in text
    assert "validation point, which is of the weights at the epoch's end" in text
    assert "A train point" not in _text(render([], {"status": "training"}))


def _overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


@pytest.mark.slow
def test_the_report_fits_a_phone_screen(tmp_path, browser):
    """At 420 px wide a ten-class confusion matrix (542 px) and the run table's longest label
    ran off the page, so the whole page scrolled sideways; the matrix now scrolls in its box."""
    names = [str(c) for c in range(10)]
    evaluation = {"accuracy": 0.9, "examples": 1000, "scored": "test", "class_names": names,
                  "confusion": [[100 if i == j else 10 for j in range(10)] for i in range(10)], "wrong": []}
    facts = {"status": "done", "config": {"dataset": "parity", "layers": [10, 8, 2]},
             "data": {"source": "parity", "arrays_sha256": "ab" * 32}}
    records = [{"epoch": 1, "loss": 0.5, "accuracy": 0.9, "val_loss": 0.6, "val_accuracy": 0.8, "lr": 0.3}]
    (tmp_path / "report.html").write_text(render(records, facts, evaluation=evaluation), encoding="utf-8")
    with fresh_page(browser, viewport={"width": 420, "height": 800}) as page:
        page.goto((tmp_path / "report.html").as_uri())
        assert _overflow(page) == 0
        assert page.locator("table.cm td").count() == 100  # the whole matrix is there, in its own scroll box
        box = page.locator("table.cm").bounding_box()
        assert box["x"] + box["width"] <= 420
        page.set_viewport_size({"width": 1280, "height": 800})
        assert page.locator("table.cm").bounding_box()["width"] > 400  # wide screens: the matrix as before


@pytest.mark.slow
def test_the_served_run_of_a_run_diverged_in_its_first_epoch_links_no_missing_file(diverged_at_once, browser):
    """The run view linked history.csv, which the run never wrote (its download answered 404),
    and said "the curves end at the last epoch it finished" with no curve and no epoch."""
    with running_server(diverged_at_once) as server, fresh_page(browser) as page:
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(server.url.rstrip("/") + "/run/history.csv")
        assert missing.value.code == 404
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url)
        page.wait_for_function("() => state.run !== null", timeout=20_000)
        page.wait_for_selector("#run-view:not([hidden])")
        assert page.inner_text("#run-files").strip() == "Every record, as training wrote it: diagnostics.csv."
        assert not page.is_visible("#history-file")
        status = page.inner_text("#run-status")
        assert "diverged in epoch 1 (step 4); no epoch finished, so there are no curves" in status
        assert "last epoch it finished" not in status and errors == []


@pytest.mark.slow
def test_the_served_page_names_one_unit_as_one_and_the_loss_as_the_training_loss(tmp_path, browser):
    """A single-output layer read "1 units"; the run view's "last loss" beside the validation
    accuracy did not say it is the train loss (history.csv's loss, the report's train curve)."""
    from test_serve_regression_review5 import regressor

    regressor(tmp_path / "m.safetensors", names=["price"])
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(tmp_path / "m.safetensors", run / "model.safetensors")
    (run / "history.csv").write_text("epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,steps\n"
                                     "1,0.75,,0.5,,0.1,0.01,10\n2,0.25,,0.375,,0.1,0.01,20\n")
    (run / "run.json").write_text(json.dumps({"status": "done"}))
    with running_server(run) as server, fresh_page(browser, viewport={"width": 1400, "height": 1000}) as page:
        page.goto(server.url)
        page.wait_for_function("() => state.last !== null", timeout=20_000)
        labels = page.eval_on_selector_all("#forward .strip .label span", "els => els.map(e => e.textContent)")
        assert labels[-1].startswith("1 unit, ") and all(" units, " in t for t in labels[:-1])
        page.click("nav .tab[data-view='run']")
        page.wait_for_function("() => document.querySelector('#run-epochs').textContent === '2'")
        status = page.inner_text("#run-status")
        # "training" in the status says the run is still training: the loss is named "train", as the report's curves
        assert "last loss 0.2500 (train)" in status and "training" not in status


@pytest.mark.slow
def test_class_names_are_not_drawn_over_by_their_bars(tmp_path, browser):
    """The probability list gave every class name 28 px: "Pullover", "Sneaker" or "T-shirt/top"
    (Fashion-MNIST's names) ran under their bars, read "Pullo", "Snea", or broke over two lines."""
    import deltaprop as dp
    from test_serve_browser import draw_zero, wait_idle
    from test_serve_http import UNIT

    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    dp.save(dp.mlp([784, 16, 10], activation="sigmoid", seed=0), tmp_path / "m.safetensors", class_names=names,
            input_scaling=UNIT, extra={"config": {"loss": "cross_entropy"}})
    wide = {"width": 1400, "height": 1000}
    with running_server(tmp_path / "m.safetensors") as server, fresh_page(browser, viewport=wide) as page:
        page.goto(server.url)
        page.wait_for_function("() => document.querySelector('#model-info').textContent.includes('→')")
        draw_zero(page)
        wait_idle(page)
        rows = page.evaluate("""() => [...document.querySelectorAll('#probabilities li')].map((li) => {
            const n = li.querySelector('.name'), r = n.getBoundingClientRect();
            return {name: n.textContent, whole: n.scrollWidth <= n.clientWidth, height: r.height,
                    right: r.right, bar: li.querySelector('.bar').getBoundingClientRect().left}; })""")
        assert sorted(r["name"] for r in rows) == sorted(names)
        assert all(r["whole"] and r["right"] <= r["bar"] and r["height"] < 20 for r in rows), rows
        assert len({round(r["bar"]) for r in rows}) == 1  # every bar starts at the same place


@pytest.mark.slow
def test_the_served_page_fits_a_phone_screen(tmp_path, browser):
    """At 400 px wide the header kept the model's line, the name and the tabs on one row: the
    Training tab ran off the screen (to 520 px) and the page scrolled sideways; the run view's
    360 px charts in their card did too (422 px)."""
    from test_serve_http import save_model

    run = tmp_path / "run"
    run.mkdir()
    save_model(run / "model.safetensors")
    (run / "history.csv").write_text("epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,steps\n"
                                     + "".join(f"{e},{1 / e},0.5,{1 / e},0.5,0.1,0.01,{10 * e}\n" for e in range(1, 12)))
    (run / "run.json").write_text(json.dumps({"status": "done"}))
    with running_server(run) as server, fresh_page(browser, viewport={"width": 400, "height": 900}) as page:
        page.goto(server.url)
        page.wait_for_selector("#tabs:not([hidden])")
        assert _overflow(page) == 0
        tab = page.locator(".tab[data-view='run']").bounding_box()
        assert tab["x"] + tab["width"] <= 400
        page.click(".tab[data-view='run']")
        page.wait_for_function("() => document.querySelector('#run-epochs').textContent === '11'")
        page.wait_for_selector("#curves .chart svg")
        assert _overflow(page) == 0
        assert page.locator("#curves .chart").count() == 3


@pytest.mark.slow
def test_the_run_view_of_an_early_stopped_run_says_the_model_is_an_earlier_epochs(tmp_path, browser):
    """The run view's status gave the last epoch's loss and validation accuracy with no word
    that the model (the one the Draw view runs) holds the best epoch's weights, not the last's."""
    out = tmp_path / "run"
    res = run_cli("train", "--epochs", "40", "--early-stopping", "2", "--lr", "3", "--threads", "1", "-q", "--out", out)
    assert res.returncode == 0, res.stderr
    kept = json.loads((out / "run.json").read_text())["model_weights"]
    last = int((out / "history.csv").read_text().splitlines()[-1].split(",")[0])
    assert kept["why"] == "early_stopping" and kept["epoch"] < last
    with running_server(out) as server, fresh_page(browser, viewport={"width": 1400, "height": 1000}) as page:
        page.goto(server.url)
        page.wait_for_selector("#tabs:not([hidden])")
        page.click(".tab[data-view='run']")
        page.wait_for_function(f"() => document.querySelector('#run-epochs').textContent === '{last}'")
        status = page.inner_text("#run-status")
        assert f"holds the weights of epoch {kept['epoch']}, not of the last epoch" in status
        assert f"weights of epoch {kept['epoch']}" in page.inner_text("#model-info")


def test_the_weight_images_say_each_has_its_own_scale():
    """Each unit's image is scaled to its own largest |w| (white: that unit's largest positive
    weight), which the note did not say: a pale unit beside a bright one read as weaker."""
    import numpy as np

    W = np.zeros((784, 2), dtype=np.float32)
    W[0, 0], W[0, 1] = 1.0, 100.0
    page = render([{"epoch": 1, "loss": 0.5}], {"status": "done"}, weights=W)
    assert "each scaled to its own largest |w|: its shades compare its weights, not those of two units" in _text(page)
    import base64
    import io

    from PIL import Image

    uris = re.findall(r'<img alt="unit \d+" src="data:image/png;base64,([^"]+)"', page)
    firsts = [np.asarray(Image.open(io.BytesIO(base64.b64decode(u))))[0, 0] for u in uris]
    assert firsts == [255, 255]  # a weight of 1 and one of 100 both white: each on its own scale


def test_a_run_without_validation_is_not_told_of_a_validation_point():
    records = [{"epoch": 1, "loss": 0.5, "accuracy": 0.7, "val_loss": None, "val_accuracy": None, "lr": 0.3}]
    text = _text(render(records, {"status": "done"}))
    assert "A train point is the mean over the epoch's batches as it trained: the weights changed after every step " \
           "(and dropout, where the run uses it, was on). " in text
    assert "validation point" not in text and "This run has no validation set" in text
