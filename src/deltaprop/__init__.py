"""deltaprop: feedforward neural networks trained by backpropagation, in NumPy.

>>> import deltaprop as dp
>>> net = dp.Network([dp.Dense(2, 8), dp.Tanh(), dp.Dense(8, 2), dp.Softmax()], seed=0)
"""

import logging

from .callbacks import Callback, CheckpointWriter, DiagnosticsRecorder, EarlyStopping, LambdaCallback, ProgressBar
from .errors import (
    ConfigError,
    DataError,
    DatasetNotFoundError,
    DownloadError,
    Error,
    ExportError,
    FileFormatError,
    MissingDependencyError,
    ModelFileError,
    NotFittedError,
    RowIndexError,
    ShapeError,
    StateError,
    TrainingDivergedError,
)
from . import data, kernels, vector_blas
from .gradcheck import GradCheckReport, gradcheck
from .initializers import glorot_uniform, he_normal, scaled_normal, zeros
from .layers import ACTIVATIONS, LAYERS, Dense, Dropout, Identity, Layer, LeakyReLU, Parameter, ReLU, Sigmoid, Softmax, Tanh
from .losses import LOSSES, BinaryCrossEntropy, CrossEntropy, Loss, MeanSquaredError
from .metrics import accuracy, classification_report, confusion_matrix
from .network import LayerTrace, Network, mlp
from .optimizers import OPTIMIZERS, SGD, AdaDelta, AdaGrad, Adam, AdamW, Optimizer, RMSprop
from .schedules import Constant, CosineAnnealing, ExponentialDecay, ReduceOnPlateau, Schedule, StepDecay
from .preprocessing import Rescaling, Standardization
from .training import History, TrainingState, evaluate, fit
from .alerts import Alert
from .diagnostics import Diagnostics, diagnose
from .serialization import save, load

__version__ = "0.1.0"

# A library logs, the application decides where it goes (download retries are logged at
# warning level; the final error names every mirror that failed anyway).
logging.getLogger("deltaprop").addHandler(logging.NullHandler())

__all__ = [
    "ACTIVATIONS", "LAYERS", "LOSSES", "OPTIMIZERS",
    "AdaDelta", "AdaGrad", "Adam", "AdamW", "BinaryCrossEntropy", "Callback", "ConfigError",
    "Constant", "CosineAnnealing", "CrossEntropy", "DataError", "DatasetNotFoundError", "Dense",
    "DownloadError", "Dropout", "EarlyStopping", "Error", "ExponentialDecay", "FileFormatError",
    "GradCheckReport", "History", "Identity", "LambdaCallback", "Layer", "LayerTrace", "LeakyReLU",
    "Loss", "MeanSquaredError", "ModelFileError", "Network", "NotFittedError", "Optimizer",
    "Parameter", "ProgressBar", "RMSprop", "ReLU", "ReduceOnPlateau", "RowIndexError", "SGD", "Schedule", "ShapeError",
    "Sigmoid", "Softmax", "StateError", "StepDecay", "Tanh", "TrainingDivergedError", "TrainingState",
    "accuracy", "classification_report", "confusion_matrix", "evaluate", "fit", "glorot_uniform",
    "gradcheck", "he_normal", "mlp", "scaled_normal", "zeros",
    "save", "load", "data", "kernels", "vector_blas", "CheckpointWriter", "Rescaling", "Standardization",
    "Alert", "Diagnostics", "DiagnosticsRecorder", "diagnose",
    "ExportError", "MissingDependencyError", "export_onnx", "export_torch", "from_torch", "to_torch",
]

# Export to ONNX and PyTorch lives in deltaprop.export, imported on first use: `import deltaprop`
# never imports onnx or torch.
_EXPORT_NAMES = frozenset({"export_onnx", "export_torch", "from_torch", "to_torch"})


def __getattr__(name):
    if name == "export" or name in _EXPORT_NAMES:
        import importlib

        export = importlib.import_module(f"{__name__}.export")
        return export if name == "export" else getattr(export, name)
    raise AttributeError(f"module 'deltaprop' has no attribute {name!r}")
