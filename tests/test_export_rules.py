"""The class an export decides is the one deltaprop decides: a bare network's graph and
PyTorch file follow the threshold the network carries (what ``net.predict`` uses), and the
export's own check holds the graph's labels to ``net.predict``'s."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deltaprop as dp

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'deltaprop[onnx]'; the dev group has it)")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'deltaprop[onnx]')")

from deltaprop import export  # noqa: E402
from onnx_graph import graph_outputs, props  # noqa: E402
from logit_models import trained_logit as trained_logit_net  # noqa: E402


def torch_meta(path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), "np") as f:
        return f.metadata()


@pytest.fixture(scope="module")
def trained_logit():
    return trained_logit_net()


def test_a_bare_export_of_a_trained_logit_labels_as_net_predict(tmp_path, trained_logit):
    net, x = trained_logit
    path = dp.export_onnx(net, tmp_path / "m.onnx")
    got = graph_outputs(path, x)
    assert np.array_equal(got["label"], net.predict(x))
    assert json.loads(props(path)["decision_threshold"]) == 0.0


def test_a_bare_pytorch_export_records_the_networks_threshold(tmp_path, trained_logit):
    net, _ = trained_logit
    meta = torch_meta(dp.export_torch(net, tmp_path / "m.pt.safetensors"))
    assert json.loads(meta["decision_threshold"]) == 0.0


def test_a_loaded_logit_exports_with_the_threshold_load_gave_it(tmp_path, trained_logit):
    net, x = trained_logit
    loaded = dp.load(dp.save(net, tmp_path / "m.safetensors", loss=dp.BinaryCrossEntropy(from_logits=True)))
    assert loaded.decision_threshold == 0.0
    got = graph_outputs(dp.export_onnx(loaded, tmp_path / "m.onnx"), x)
    assert np.array_equal(got["label"], loaded.predict(x))
    assert json.loads(torch_meta(dp.export_torch(loaded, tmp_path / "m.pt.safetensors"))["decision_threshold"]) == 0.0


def test_the_check_holds_the_graph_to_net_predicts_labels(trained_logit):
    net, _ = trained_logit
    at_half = net.copy()
    at_half.decision_threshold = 0.5
    model = export.onnx_model(at_half)  # labels z ≥ ½: not what net.predict says
    assert export.check_onnx(model, at_half) < 1e-5
    with pytest.raises(dp.ExportError, match=r"labels do not follow deltaprop's rule for its scores \(a ≥ 0\)"):
        export.check_onnx(model, net)


def test_a_probability_network_keeps_its_threshold_of_one_half(tmp_path):
    net = dp.mlp([3, 4, 1], output="sigmoid", seed=0)
    assert json.loads(props(dp.export_onnx(net, tmp_path / "p.onnx"))["decision_threshold"]) == 0.5


# -- a model that knows one class ------------------------------------------------------------------
def test_a_one_class_network_labels_every_row_class_0(tmp_path):
    net = dp.mlp([3, 4, 1], output="sigmoid", seed=0)
    net.layers[-2].b.value[...] = 2.0  # p > ½ on every row: a threshold would say class 1
    x = np.random.default_rng(0).standard_normal((50, 3)).astype(np.float32)
    assert np.all(net.predict_proba(x) > 0.5)
    path = dp.export_onnx(net, tmp_path / "m.onnx", class_names=["cat"])
    assert np.array_equal(graph_outputs(path, x)["label"], np.zeros(50, np.int64))
    assert json.loads(props(path)["decision_threshold"]) is None
    assert export.check_onnx(path, net, class_names=["cat"]) < 1e-5
    assert json.loads(torch_meta(dp.export_torch(net, tmp_path / "m.pt.safetensors", class_names=["cat"]))
                      ["decision_threshold"]) is None


@pytest.fixture(scope="module")
def one_class_file(tmp_path_factory):
    """A model file of one class ("cat") whose single sigmoid output is above ½ on every
    row, as a scikit-learn classifier fitted on one class saves it, and rows to predict."""
    net = dp.mlp([3, 4, 1], output="sigmoid", seed=0, dtype="float64")
    net.layers[-2].b.value[...] = 2.0
    X = np.random.default_rng(0).standard_normal((50, 3))
    assert np.all(net.predict_proba(X) > 0.5)
    return dp.save(net, tmp_path_factory.mktemp("one") / "one.safetensors", class_names=["cat"]), X


@pytest.mark.slow  # importing scikit-learn takes seconds
def test_a_one_class_estimators_graph_says_what_est_predict_says(tmp_path):
    import warnings

    sklearn = pytest.importorskip("deltaprop.sklearn", reason="scikit-learn is not installed")
    X = np.random.default_rng(0).standard_normal((50, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short fit does not converge
        est = sklearn.NeuralNetClassifier((4,), max_iter=5, random_state=0).fit(X, np.array(["cat"] * 50))
    assert np.all(est.net_.predict_proba(X) > 0.5)  # a threshold of ½ would say a class 1
    path = dp.export_onnx(dp.serialization.read_model(est.save(tmp_path / "one.safetensors")), tmp_path / "one.onnx")
    labels = graph_outputs(path, X.astype(np.float64))["label"]
    assert np.array_equal(est.classes_[labels], est.predict(X))


def test_deltaprop_export_of_a_one_class_file_says_its_one_class(one_class_file, tmp_path):
    from cli_in_process import run_cli

    path, X = one_class_file
    res = run_cli("export", path, "--format", "onnx", "-o", tmp_path / "one.onnx")
    assert res.returncode == 0, res.stderr
    assert "label (always 0, cat: the model knows one class)" in res.stdout
    got = graph_outputs(tmp_path / "one.onnx", X)
    assert np.array_equal(got["label"], np.zeros(len(X), np.int64))
    assert json.loads(props(tmp_path / "one.onnx")["class_names"]) == ["cat"]


def test_predict_on_the_command_line_names_only_the_class_there_is(one_class_file, tmp_path):
    from cli_in_process import run_cli

    path, X = one_class_file
    np.save(tmp_path / "x.npy", X[:3])
    res = run_cli("predict", path, tmp_path / "x.npy")
    assert res.returncode == 0, res.stderr
    p = dp.load(path).predict_proba(X[:3])[:, 0]
    assert res.stdout.splitlines() == [f"{tmp_path / 'x.npy'}[{r}]: class cat  (probabilities cat: {1 - p[r]:.4f})"
                                       for r in range(3)]


# -- a loss the network cannot have been trained with ----------------------------------------------
@pytest.mark.parametrize("write", ["save", "onnx", "torch"])
def test_cross_entropy_on_one_output_is_refused_as_fit_refuses_it(tmp_path, write):
    net, ce = dp.mlp([4, 5, 1], output="identity", seed=0), dp.CrossEntropy(from_logits=True)
    x = np.random.default_rng(0).standard_normal((20, 4)).astype(np.float32)
    with pytest.raises(dp.ConfigError) as refused_by_fit:
        dp.fit(net, x, np.zeros(20, np.int64), loss=ce, optimizer=dp.SGD(lr=0.1), epochs=1)
    assert "CrossEntropy needs one output per class" in str(refused_by_fit.value)
    do = {"save": dp.save, "onnx": dp.export_onnx, "torch": dp.export_torch}[write]
    with pytest.raises(dp.ConfigError) as refused:
        do(net, tmp_path / "out", loss=ce)
    assert str(refused.value) == str(refused_by_fit.value)
    assert not (tmp_path / "out").exists()


# -- check_onnx on a graph that is not the network's -----------------------------------------------
def test_check_onnx_names_a_graph_for_other_inputs():
    graph = export.onnx_model(dp.mlp([4, 5, 3], seed=0))
    with pytest.raises(dp.ExportError, match="takes 4 features a row; the network takes 6"):
        export.check_onnx(graph, dp.mlp([6, 5, 3], seed=0))


def test_check_onnx_names_a_graph_for_other_outputs():
    graph = export.onnx_model(dp.mlp([4, 5, 3], seed=0))
    with pytest.raises(dp.ExportError, match=r"outputs \(3,\) a row; the network gives \(2,\)"):
        export.check_onnx(graph, dp.mlp([4, 5, 2], seed=0))


@pytest.mark.parametrize("data", [b"not onnx", b"\x08\x07"], ids=["corrupt", "no-graph"])
def test_check_onnx_names_bytes_or_a_file_that_is_no_deltaprop_graph(tmp_path, data):
    net = dp.mlp([4, 5, 3], seed=0)
    with pytest.raises(dp.ExportError, match="the bytes given|the ONNX graph takes nothing"):
        export.check_onnx(data, net)
    (tmp_path / "bad.onnx").write_bytes(data)
    with pytest.raises(dp.ExportError, match="bad.onnx"):
        export.check_onnx(tmp_path / "bad.onnx", net)
    with pytest.raises(dp.ExportError, match="cannot read the ONNX model .*missing.onnx"):
        export.check_onnx(tmp_path / "missing.onnx", net)


def test_check_onnx_names_a_graph_onnxruntime_cannot_run():
    net = dp.mlp([4, 5, 3], seed=0)
    graph = export.onnx_model(net)
    graph.graph.node[0].op_type = "NoSuchOp"
    with pytest.raises(dp.ExportError, match="onnxruntime cannot load the ONNX graph"):
        export.check_onnx(graph, net)
