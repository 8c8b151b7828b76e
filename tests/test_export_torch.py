"""PyTorch round trips: to_torch gives an nn.Sequential that computes net.predict_proba;
from_torch brings it back with the same weights, bit for bit; the export file loads with
safetensors.torch.load_file + load_state_dict. PyTorch is a test dependency only."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import deltaprop as dp

torch = pytest.importorskip("torch", reason="PyTorch is not installed (.ci/run installs it; deltaprop never needs it)")

from deltaprop import export  # noqa: E402
from test_export_networks import TOLERANCE, Doubling, binary_network, every_layer_network  # noqa: E402

nn = torch.nn


def forward(module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("make", [every_layer_network, binary_network], ids=["every-layer", "binary"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch", [1, 1000])
def test_to_torch_computes_predict_proba(make, dtype, batch):
    net = make(dtype, seed=batch)
    module = dp.to_torch(net)
    assert isinstance(module, nn.Sequential) and not module.training  # eval mode: dropout off
    x = np.random.default_rng(batch).standard_normal((batch, net.n_features)).astype(dtype)
    got, want = forward(module, x), net.predict_proba(x)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE[dtype])
    if net.n_outputs > 1:
        assert np.array_equal(np.argmax(got, axis=1), net.predict(x))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_keeps_every_weight_bit_for_bit(dtype):
    net = every_layer_network(dtype)
    module = dp.to_torch(net)
    linear = module[0]
    assert isinstance(linear, nn.Linear) and tuple(linear.weight.shape) == (16, 12)  # PyTorch's (n_out, n_in)
    assert same_bits(linear.weight.detach().numpy(), np.ascontiguousarray(net.layers[0].W.value.T))
    back = dp.from_torch(module)
    assert back.config() == net.config()
    for (name, mine), (_, theirs) in zip(net.named_parameters(), back.named_parameters()):
        assert same_bits(mine.value, theirs.value), name
    x = np.random.default_rng(0).standard_normal((1000, 12)).astype(dtype)
    assert np.array_equal(back.predict_proba(x), net.predict_proba(x))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_pytorch_module_comes_over_and_back_unchanged(dtype):
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(6, 9), nn.ReLU(), nn.Dropout(0.2), nn.Linear(9, 9), nn.LeakyReLU(0.05),
                           nn.Linear(9, 9), nn.Tanh(), nn.Linear(9, 9), nn.Sigmoid(), nn.Identity(),
                           nn.Linear(9, 3), nn.Softmax(dim=1)).to(dtype).eval()
    net = dp.from_torch(module)
    assert [layer.type_name for layer in net.layers] == ["Dense", "ReLU", "Dropout", "Dense", "LeakyReLU", "Dense", "Tanh",
                                                        "Dense", "Sigmoid", "Identity", "Dense", "Softmax"]
    assert net.layers[4].slope == 0.05 and net.layers[2].rate == 0.2
    x = np.random.default_rng(1).standard_normal((1000, 6)).astype(str(dtype).removeprefix("torch."))
    tol = TOLERANCE[net.dtype.name]
    np.testing.assert_allclose(net.predict_proba(x), forward(module, x), rtol=0, atol=tol)
    again = dp.to_torch(net)
    for (name, a), b in zip(module.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b) and a.dtype == b.dtype, name


def test_a_linear_without_bias_gets_a_zero_bias():
    module = nn.Sequential(nn.Linear(4, 2, bias=False), nn.Softmax(dim=-1))
    net = dp.from_torch(module)
    assert np.array_equal(net.layers[0].b.value, np.zeros(2, np.float32))
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(net.predict_proba(x), forward(module, x), rtol=0, atol=1e-6)


@pytest.mark.parametrize("module, message", [
    (nn.Sequential(nn.Linear(4, 3), nn.GELU(), nn.Linear(3, 2)), r"module 1 is GELU, which has no deltaprop layer"),
    (nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=0)), r"module 1 is Softmax\(dim=0\).*over each row"),
    (nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), r"module 0 is Flatten"),
    (nn.Sequential(nn.Linear(4, 3), nn.LeakyReLU(-0.5)), r"module 1 .*LeakyReLU.*settings deltaprop does not take"),
    (nn.Sequential(nn.Linear(4, 3).half()), r"module 0 \(Linear\) holds torch.float16 weights.*module.float\(\)"),
    (nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2).double()), r"mix dtypes"),
    (nn.Sequential(nn.Linear(4, 3), nn.Linear(2, 2)), r"does not make a deltaprop network"),
    (nn.Linear(4, 3), r"reads an nn.Sequential.*got Linear"),
])
def test_modules_deltaprop_cannot_express_are_refused_by_name(module, message):
    with pytest.raises(dp.ExportError, match=message):
        dp.from_torch(module)


@pytest.mark.parametrize("param, value", [("weight", float("nan")), ("bias", float("inf")), ("weight", -float("inf"))])
def test_a_module_with_non_finite_weights_is_refused_naming_the_parameter(param, value):
    linear = nn.Linear(3, 2)
    with torch.no_grad():
        getattr(linear, param).view(-1)[0] = value
    with pytest.raises(dp.ExportError, match=rf"module 1 \(Linear\) 1\.{param} holds NaN or infinity"):
        dp.from_torch(nn.Sequential(nn.Linear(4, 3), linear))


def test_export_file_loads_with_load_file_and_load_state_dict(tmp_path):
    from safetensors.torch import load_file

    net = every_layer_network("float64")
    path = dp.export_torch(net, tmp_path / "net.pt.safetensors", class_names=list("abcde"),
                           input_scaling={"kind": "unit", "max": 255})
    state = load_file(path)
    module = nn.Sequential(nn.Linear(12, 16), nn.Sigmoid(), nn.Dropout(0.3), nn.Linear(16, 16), nn.Tanh(),
                           nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 16), nn.LeakyReLU(0.1), nn.Linear(16, 16),
                           nn.Identity(), nn.Linear(16, 5), nn.Softmax(dim=-1)).double().eval()
    module.load_state_dict(state)  # strict: every name and shape must match
    for i, layer in enumerate(net.layers):
        if isinstance(layer, dp.Dense):
            assert same_bits(state[f"{i}.weight"].numpy(), np.ascontiguousarray(layer.W.value.T))
            assert same_bits(state[f"{i}.bias"].numpy(), layer.b.value)
    x = np.random.default_rng(0).standard_normal((1000, 12))
    np.testing.assert_allclose(forward(module, x), net.predict_proba(x), rtol=0, atol=1e-12)


def test_export_file_metadata_rebuilds_the_modules(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file

    net = binary_network("float32")
    path = dp.export_torch(net, tmp_path / "b.pt.safetensors", class_names=["no", "yes"])
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    specs = json.loads(meta["torch_modules"])
    assert specs == export.torch_modules(net)
    assert json.loads(meta["class_names"]) == ["no", "yes"] and meta["dtype"] == "float32"
    assert meta["deltaprop_version"] == dp.__version__
    module = nn.Sequential(*(getattr(nn, s.pop("module"))(**s) for s in specs))
    module.load_state_dict(load_file(path))
    assert same_bits(dp.from_torch(module).layers[0].W.value, net.layers[0].W.value)


def test_to_torch_refuses_a_layer_outside_the_closed_table():
    net = dp.Network([dp.Dense(3, 4), Doubling(), dp.Dense(4, 2)], seed=0)
    with pytest.raises(dp.ExportError, match=r"layer 1 \(Doubling\)"):
        dp.to_torch(net)


def test_a_missing_torch_says_deltaprop_does_not_need_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(dp.MissingDependencyError, match="needs the torch package.*deltaprop itself never needs it"):
        dp.to_torch(every_layer_network("float32"))


def test_input_scaling_layers_stay_out_of_the_module_and_go_into_the_file(tmp_path):
    from safetensors import safe_open

    from deltaprop.preprocessing import Rescaling

    body = every_layer_network("float32")
    net = dp.Network([Rescaling(1 / 255), *body.layers])
    for mine, theirs in zip(net.parameters(), body.parameters()):
        mine.value = theirs.value
    with pytest.raises(dp.ExportError, match=r"layer 0 \(Rescaling\) scales raw inputs.*scaled_inputs=True.*x / 255"):
        dp.to_torch(net)
    module = dp.to_torch(net, scaled_inputs=True)
    raw = np.random.default_rng(0).integers(0, 256, (1000, 12)).astype(np.float32)
    np.testing.assert_allclose(forward(module, raw * np.float32(1 / 255)), net.predict_proba(raw), rtol=0, atol=1e-6)
    path = dp.export_torch(net, tmp_path / "scaled.pt.safetensors")
    with safe_open(path, "pt") as f:
        assert json.loads(f.metadata()["preprocessing"]) == [{"type": "Rescaling", "scale": 1 / 255}]
        assert set(f.keys()) == set(module.state_dict())
