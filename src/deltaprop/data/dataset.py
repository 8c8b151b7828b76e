"""The Dataset record every loader returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deltaprop.errors import DataError, ShapeError

__all__ = ["Dataset"]


@dataclass(frozen=True, repr=False, eq=False)
class Dataset:
    """A train/test split with class names.

    ``x_*`` keep the dtype the data is stored in (uint8 pixels for MNIST-like sets:
    scale with :func:`~deltaprop.data.scale_to_unit`); ``y_*`` are int64 class ids in
    ``range(len(class_names))``. ``source`` says where the data came from.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    class_names: tuple[str, ...]
    source: str = ""

    def __post_init__(self) -> None:
        n_classes = len(self.class_names)
        for part in ("train", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if len(x) != len(y):
                raise ShapeError(f"{self.name}: x_{part} has {len(x)} rows but y_{part} has "
                                 f"{len(y)} labels.")
            if y.dtype != np.int64 or y.ndim != 1:
                raise DataError(f"{self.name}: y_{part} must be a 1-D int64 array of class ids, "
                                f"got {y.dtype} {y.shape}.")
            if y.size and (y.min() < 0 or y.max() >= n_classes):
                raise DataError(f"{self.name}: y_{part} has labels outside 0..{n_classes - 1}.")

    @property
    def n_classes(self) -> int:
        """The number of classes."""
        return len(self.class_names)

    @property
    def n_features(self) -> int:
        """Inputs per example once flattened (784 for 28x28 images)."""
        return int(np.prod(self.x_train.shape[1:], dtype=np.int64))

    def __repr__(self) -> str:
        names = self.class_names
        shown = ", ".join(map(repr, names if len(names) <= 10 else names[:9] + ("...",)))

        def arr(a: np.ndarray) -> str:
            return f"{a.dtype.name}{tuple(a.shape)}"

        return (f"Dataset({self.name!r}: train x {arr(self.x_train)} y {arr(self.y_train)}, "
                f"test x {arr(self.x_test)} y {arr(self.y_test)}, "
                f"{len(names)} classes [{shown}])")
