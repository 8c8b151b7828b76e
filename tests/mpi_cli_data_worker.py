"""Run by tests/test_distributed.py under ``mpiexec -n 2`` as ``mpi_cli_data_worker.py OUT
ARGS...``: ``deltaprop train ARGS``, each rank recording what its ``fit`` was handed in
OUT_rank{r}.json."""

import json
import sys

from mpi4py import MPI

from deltaprop import cli


def main(out: str, args: list[str]) -> int:
    real_fit = cli.fit
    seen = {}

    def recording_fit(net, X, y, **kwargs):
        Xv = kwargs["validation"][0]
        seen.update(x=type(X).__name__, x_base=type(getattr(X, "base", None)).__name__, x_rows=len(X),
                    val=type(Xv).__name__, val_base=type(getattr(Xv, "base", None)).__name__,
                    x_test=type(cli_data[0]).__name__ if cli_data else None)
        return real_fit(net, X, y, **kwargs)

    cli_data = []
    real_training_data = cli._training_data

    def recording_training_data(cfg, **kwargs):
        data = real_training_data(cfg, **kwargs)
        cli_data.append(data.x_test)
        return data

    cli.fit, cli._training_data = recording_fit, recording_training_data
    status = cli.main(["train", *args])
    with open(f"{out}_rank{MPI.COMM_WORLD.Get_rank()}.json", "w") as f:
        json.dump({"status": status, **seen}, f)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
