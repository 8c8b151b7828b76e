"""Benchmark peer: scikit-learn's MLPClassifier (solver="sgd"), one epoch per fit call."""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import common  # noqa: E402


def main() -> None:
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    args = common.parser(__doc__).parse_args()
    x_train, y_train, x_test, y_test = common.load_arrays(args.data)
    clf = MLPClassifier(
        hidden_layer_sizes=common.LAYERS[1:-1], activation="relu", solver="sgd", alpha=0.0,
        batch_size=args.batch_size, learning_rate_init=common.LR, momentum=common.MOMENTUM,
        nesterovs_momentum=False, max_iter=1, warm_start=True, shuffle=True, tol=0.0,
        # one generator for the whole run: an int seed would replay the same order every fit call (epoch)
        random_state=np.random.RandomState(args.seed),
    )
    times = []
    pacer = common.Pacer(args.lockstep)
    started = time.perf_counter()
    with threadpool_limits(args.threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(args.epochs):
            pacer.wait()
            t0 = time.perf_counter()
            clf.fit(x_train, y_train)  # warm_start + max_iter=1: one more epoch each call
            times.append(time.perf_counter() - t0)
            pacer.done(times[-1])
        pacer.wait()
        acc = float(np.mean(clf.predict(x_test) == y_test))
    total = time.perf_counter() - started
    common.report({
        "peer": "scikit-learn", "version": sklearn.__version__, "batch_size": args.batch_size,
        "epoch_seconds": times, "seconds_per_epoch": common.median_after_first(times), "total_seconds": total,
        "test_accuracy": acc, "dtype": str(clf.coefs_[0].dtype),
    })


if __name__ == "__main__":
    main()
