"""The exceptions deltaprop raises.

Every exception the library raises on purpose derives from :class:`Error`, so a caller
can catch all of them with one ``except deltaprop.Error``. Each subclass also derives
from the closest built-in exception (``ValueError``, ``FileNotFoundError``, ...) so that
code written against the standard hierarchy keeps working. Messages name the problem
and, where there is one, the fix.
"""

from __future__ import annotations


class Error(Exception):
    """Base class of every deltaprop exception."""


class ConfigError(Error, ValueError):
    """A hyperparameter, option or configuration value is invalid (lr <= 0, unknown name, ...)."""


class ShapeError(Error, ValueError):
    """Arrays have the wrong number of dimensions, features or rows."""


class RowIndexError(ShapeError, IndexError):
    """A row number beyond the rows of a lazy array (an IndexError too, so that iterating
    over it, ``list(arr)``, stops at its end as over any sequence)."""


class DataError(Error, ValueError):
    """Input data is unusable: NaN or inf, labels out of range or of the wrong kind."""


class FileFormatError(DataError):
    """A data file (IDX, .npy, .npz, CSV, image) is malformed, truncated or unsupported."""


class DatasetNotFoundError(Error, FileNotFoundError):
    """A dataset's files are not on disk and could not be downloaded."""


class DownloadError(Error, OSError):
    """A download failed on every mirror, or its checksum did not match."""


class ModelFileError(Error, ValueError):
    """A model or checkpoint file is missing, malformed, tampered with or inconsistent."""


class StateError(Error, ValueError):
    """Optimizer or training state does not match the parameters it is loaded into."""


class TrainingDivergedError(Error, FloatingPointError):
    """The training loss became NaN or infinite. ``fit`` gives the network back the weights
    the diverged epoch began with, or, where those had already exploded (``exploded``), the
    weights it began with, and resets the optimizer's state, so a refit at a lower rate can
    train. ``layer``: the first layer that shows it, in words (None where none could be
    told); ``largest_weight``: ``max |θ|`` of the diverged epoch's first weights (those a
    checkpoint of the epoch before holds); ``start_weight``: ``max |θ₀|`` of the weights fit
    began with, the yardstick of ``exploded`` (weights ``max |θ|`` ≥ 100 ``max(1, max |θ₀|)``),
    so that a checkpoint of any epoch can be judged by it."""

    def __init__(self, message: str, *, epoch: int, step: int, layer: str | None = None,
                 largest_weight: float | None = None, exploded: bool = False, start_weight: float | None = None):
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.layer = layer
        self.largest_weight = largest_weight
        self.exploded = exploded
        self.start_weight = start_weight


class NotFittedError(Error, AttributeError):
    """A method that needs a trained or built model was called before training."""


class ExportError(Error, ValueError):
    """A model cannot be written in another framework's format (a layer it cannot express,
    a checkpoint given where a model is needed, or an export that does not reproduce it)."""


class MissingDependencyError(Error, ImportError):
    """An optional package that a feature needs is not installed; the message names the extra."""
