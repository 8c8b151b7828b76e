"""Structural speed guarantees (no timings here: speed is measured by bench/).

After the first step of a given batch size, a training step allocates no new arrays: its
buffers are reused, so the time stays the GEMMs' and the allocator never enters the loop.
"""

import time
import tracemalloc

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import kernels

BATCH = 256
WIDTH = 512
ONE_ACTIVATION = BATCH * WIDTH * 4  # bytes of one float32 hidden activation


class AllocationProbe(dp.Callback):
    """Records the peak traced memory above the level seen after the warm-up batches."""

    def __init__(self, warmup: int):
        self.warmup = warmup
        self.batches = 0
        self.growth = []
        self.baseline = None

    def on_batch_end(self, state, batch_size, batch_loss):
        self.batches += 1
        current, peak = tracemalloc.get_traced_memory()
        if self.baseline is not None:
            self.growth.append(peak - self.baseline)
        if self.batches >= self.warmup:
            tracemalloc.reset_peak()
            self.baseline = tracemalloc.get_traced_memory()[0]


CASES = [("relu", dp.SGD(lr=0.01, momentum=0.9))]
CASES += [(act, dp.SGD(lr=0.01)) for act in ("sigmoid", "tanh", "leaky_relu")]
CASES += [("relu", opt) for opt in (dp.Adam(), dp.AdaDelta(), dp.RMSprop(), dp.AdaGrad(), dp.AdamW(),
                                     dp.SGD(lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4))]


@pytest.mark.slow  # about 3.8 s in the quick suite on 2 cores
@pytest.mark.parametrize("backend", ["auto", "numpy"])
@pytest.mark.parametrize(("activation", "optimizer"), CASES, ids=lambda c: getattr(c, "type_name", c))
def test_training_step_allocates_nothing_after_warmup(activation, optimizer, backend):
    with kernels.use(backend):
        _check_no_allocation(activation, optimizer)


def _check_no_allocation(activation, optimizer):
    rng = np.random.default_rng(0)
    X = rng.random((BATCH * 6, 64), dtype=np.float32)
    y = rng.integers(0, 10, BATCH * 6)
    net = dp.mlp([64, WIDTH, WIDTH, 10], activation=activation, dropout=0.2, seed=0)
    probe = AllocationProbe(warmup=2)
    tracemalloc.start()
    try:
        dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=optimizer, epochs=1, batch_size=BATCH, seed=0, callbacks=[probe])
    finally:
        tracemalloc.stop()
    assert len(probe.growth) == 4
    # Any array the size of one activation (or of a weight matrix) allocated inside a step shows up here.
    assert max(probe.growth) < ONE_ACTIVATION / 4, probe.growth


def test_layer_buffers_are_reused_between_steps():
    rng = np.random.default_rng(1)
    net = dp.mlp([20, 30, 5], activation="relu", seed=0)
    loss = dp.CrossEntropy()
    X, y = rng.random((16, 20), dtype=np.float32), rng.integers(0, 5, 16)
    net.loss_and_gradients(loss, X, y)
    first = [id(o) for o in net._outputs] + [id(p.grad) for p in net.parameters()]
    net.loss_and_gradients(loss, X, y)
    second = [id(o) for o in net._outputs] + [id(p.grad) for p in net.parameters()]
    assert first == second


def test_parameters_live_in_one_flat_buffer_that_optimizers_update_whole():
    net = dp.mlp([8, 6, 3], activation="tanh", seed=0)
    opt = dp.Adam()
    opt.build(net.parameters())
    assert len(opt._targets) == 1
    values, grads = opt._targets[0]
    assert values.size == net.n_parameters
    for p in net.parameters():
        assert p.value.base is values and p.grad.base is grads


def test_predict_works_in_chunks_and_matches_one_pass():
    rng = np.random.default_rng(2)
    net = dp.mlp([12, 7, 4], seed=0)
    X = rng.random((1001, 12), dtype=np.float32)
    whole = net.predict_proba(X, batch_size=5000)
    chunked = net.predict_proba(X, batch_size=64)
    np.testing.assert_allclose(whole, chunked, rtol=1e-5, atol=1e-7)


def _blas_threads_seen(monkeypatch, idle, runs):
    """The BLAS threads each of ``runs`` (fit keyword sets) trained on, with ``idle`` CPUs measured."""
    from threadpoolctl import threadpool_info

    from deltaprop import cpus

    monkeypatch.setattr(cpus, "idle_cpus", lambda window=0.05: idle)
    seen = []

    class Probe(dp.Callback):
        def on_epoch_end(self, state):
            seen.append(max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"))

    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(3)
    X, y = rng.random((128, 784), dtype=np.float32), rng.integers(0, 10, 128)
    net = dp.mlp([784, 256, 10], seed=0)
    # The BLAS default the runs start from is set here, whatever earlier code in this
    # process left (libraries loaded later, other tests' limits).
    with threadpool_limits(limits=2, user_api="blas"):
        default = max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
        for kw in runs:
            dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=dp.SGD(lr=0.1), epochs=1, callbacks=[Probe()], **kw)
    return seen, default


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_small_steps_train_on_one_blas_thread_and_threads_overrides(monkeypatch):
    seen, default = _blas_threads_seen(monkeypatch, 64.0, [
        dict(batch_size=16),               # 16 · 784 · 256 < SMALL_STEP_MACS
        dict(batch_size=16, threads=2),    # asked for explicitly
        dict(batch_size=64),               # large enough, every CPU idle: the BLAS default
    ])
    assert seen == [1, min(2, default), default]


def test_a_busy_machine_gets_fewer_blas_threads(monkeypatch):
    seen, default = _blas_threads_seen(monkeypatch, 0.3, [dict(batch_size=32), dict(batch_size=32, threads=2)])
    assert seen == [1, min(2, default)]


def test_the_thread_count_is_kept_in_the_state_and_a_resume_uses_it(monkeypatch):
    from deltaprop import cpus

    rng = np.random.default_rng(3)
    X, y = rng.random((64, 784), dtype=np.float32), rng.integers(0, 10, 64)
    net = dp.mlp([784, 256, 10], seed=0)
    opt = dp.SGD(lr=0.1)
    states = []
    cb = dp.LambdaCallback(on_train_end=states.append)
    monkeypatch.setattr(cpus, "idle_cpus", lambda window=0.05: 0.2)
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=1, batch_size=32, callbacks=[cb])
    assert states[0].threads == 1
    monkeypatch.setattr(cpus, "idle_cpus", lambda window=0.05: 64.0)
    dp.fit(net, X, y, loss=dp.CrossEntropy(), optimizer=opt, epochs=2, batch_size=32, callbacks=[cb],
           resume=states[0])
    assert states[1].threads == 1


def test_idle_cpus_is_measured_within_the_available_ones():
    from deltaprop import cpus

    idle = cpus.idle_cpus(0.02)
    assert idle is None or 0.0 <= idle <= len(cpus.available_cpus())


def test_idle_cpus_counts_other_processes_work_but_not_this_ones(monkeypatch):
    """n · (idle + own) / total ticks: another process's busy core counts, this process's
    own threads (BLAS threads still spinning after the last GEMM) do not."""
    from deltaprop import cpus

    monkeypatch.setattr(cpus, "available_cpus", lambda: {0, 1})
    monkeypatch.setattr(cpus.time, "sleep", lambda s: None)

    def measure(idle_ticks, own_ticks):
        ticks = iter([(0, 0), (idle_ticks, 20)])  # 20 ticks on 2 CPUs: 0.1 s
        own = iter([5.0, 5.0 + own_ticks])
        monkeypatch.setattr(cpus, "_ticks", lambda cs: next(ticks))
        monkeypatch.setattr(cpus, "_own_ticks", lambda: next(own))
        return cpus.idle_cpus()

    assert measure(20, 0) == 2.0   # all idle
    assert measure(10, 0) == 1.0   # another process on one core
    assert measure(10, 10) == 2.0  # our own threads on one core: still two for us
    assert measure(0, 10) == 1.0   # ours on one, another process on the other
    assert measure(20, 3) == 2.0   # never more than the CPUs there are


@pytest.mark.slow  # about half a second: keeps the quick suite under a minute
def test_this_processs_own_busy_threads_do_not_count_as_load():
    """Its BLAS threads spinning after a fit must not put the next fit on fewer threads:
    the CPU time of this process's other threads is measured in /proc/stat's ticks and
    given back to the idle count (the arithmetic is tested above)."""
    import threading

    from threadpoolctl import threadpool_limits

    from deltaprop import cpus

    if cpus._measure(0.05) is None:
        pytest.skip("needs /proc/stat")
    stop = threading.Event()
    a = np.ones((400, 400))

    def own_work():  # NumPy releases the GIL: this thread keeps a core busy for this process
        with threadpool_limits(1, user_api="blas"):
            while not stop.is_set():
                a @ a

    worker = threading.Thread(target=own_work)
    worker.start()
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        idle, own, total = cpus._measure(0.3)
        share = (time.process_time() - cpu_started) / (time.perf_counter() - started)
    finally:
        stop.set()
        worker.join()
    n = len(cpus.available_cpus())
    # the worker's time is in /proc/stat's ticks: the share of a core it had, measured in
    # seconds alongside (most of a core on an idle machine; on a crowded one what the others
    # left it, maybe next to nothing). Seconds taken for ticks would give a hundredth of it.
    assert own / total * n >= 0.5 * share - 0.02
    assert n * (idle + own) / total <= n + 0.35  # the same units as /proc/stat's ticks


@pytest.mark.slow  # about 0.2 s in the quick suite on 2 cores
def test_full_batch_training_counts_the_idle_cpus_too(monkeypatch):
    """A full batch is one step of every row: 128 · 784 · 256 multiply-adds is large, so
    the idle CPUs decide (before, it ran on the BLAS default on any machine)."""
    seen, _ = _blas_threads_seen(monkeypatch, 0.3, [dict(batch_size=None)])
    assert seen == [1]
    seen, default = _blas_threads_seen(monkeypatch, 64.0, [dict(batch_size=None)])
    assert seen == [default]


@pytest.mark.slow  # about 0.5 s in the quick suite on 2 cores
def test_the_lbfgs_solver_counts_the_idle_cpus(monkeypatch):
    pytest.importorskip("sklearn")
    import warnings

    import scipy.optimize
    from threadpoolctl import threadpool_info, threadpool_limits

    from deltaprop import cpus
    from deltaprop.sklearn import NeuralNetClassifier

    rng = np.random.default_rng(3)
    X, y = rng.random((128, 784)), rng.integers(0, 3, 128)
    seen = []
    minimize = scipy.optimize.minimize

    def spy(*args, **kwargs):
        seen.append(max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"))
        return minimize(*args, **kwargs)

    monkeypatch.setattr(scipy.optimize, "minimize", spy)
    with threadpool_limits(limits=2, user_api="blas"):
        default = max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
        for idle in (0.3, 64.0):
            monkeypatch.setattr(cpus, "idle_cpus", lambda window=0.05, idle=idle: idle)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # two iterations do not converge, and need not
                NeuralNetClassifier(hidden_layer_sizes=(256,), solver="lbfgs", max_iter=2).fit(X, y)
    assert seen == [1, default]


def test_partial_fit_measures_the_idle_cpus_once_and_keeps_the_choice(monkeypatch):
    """Each measurement sleeps 50 ms: a loop of partial_fit calls must not pay it every call."""
    pytest.importorskip("sklearn")
    from deltaprop import cpus
    from deltaprop.sklearn import NeuralNetClassifier

    calls = []
    monkeypatch.setattr(cpus, "idle_cpus", lambda window=0.05: calls.append(window) or 0.3)
    rng = np.random.default_rng(0)
    X, y = rng.random((500, 784)), rng.integers(0, 10, 500)
    clf = NeuralNetClassifier(hidden_layer_sizes=(256,), batch_size=100)
    for i in range(5):
        clf.partial_fit(X[i * 100:(i + 1) * 100], y[i * 100:(i + 1) * 100], classes=np.arange(10))
    assert len(calls) == 1
    assert clf._state.threads == 1
