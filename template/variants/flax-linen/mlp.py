"""The model: a multilayer perceptron in Flax Linen."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import DTypeLike

from .config import Config
from .data import Dataset


class MLP(nn.Module):
    """Flattens each image, then applies ReLU hidden layers and a linear classifier.

    The layers compute in `dtype`; their parameters stay float32.
    """

    hidden_sizes: Sequence[int]
    num_classes: int
    dtype: DTypeLike = jnp.float32

    @nn.compact
    def __call__(self, x_BxHxWxC: jax.Array, train: bool) -> jax.Array:
        """Returns the logits, shape (batch, num_classes).

        `train` changes nothing here; every model of the project takes it.
        """
        del train
        x_BxD = x_BxHxWxC.reshape(x_BxHxWxC.shape[0], -1)
        for width in self.hidden_sizes:
            x_BxD = nn.relu(nn.Dense(width, dtype=self.dtype)(x_BxD))
        return nn.Dense(self.num_classes, dtype=self.dtype)(x_BxD)


def create_model(config: Config, dataset: Dataset) -> MLP:
    """Builds the model; Linen infers the input shape at initialisation."""
    return MLP(
        hidden_sizes=config.hidden_sizes,
        num_classes=dataset.num_classes,
        dtype=jnp.dtype(config.precision),
    )
