"""The model: a multilayer perceptron in Flax NNX."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
from flax import nnx

from .config import Config
from .data import Dataset


class MLP(nnx.Module):
    """Flattens each image, then ReLU hidden layers and a linear classifier.

    The layers compute in `config.precision`; their parameters stay float32.
    """

    def __init__(self, config: Config, dataset: Dataset, *, rngs: nnx.Rngs) -> None:
        dtype = jnp.dtype(config.precision)
        widths = [math.prod(dataset.image_shape), *config.hidden_sizes]
        self.hidden = nnx.List(
            [
                nnx.Linear(width_in, width_out, dtype=dtype, rngs=rngs)
                for width_in, width_out in itertools.pairwise(widths)
            ]
        )
        self.head = nnx.Linear(widths[-1], dataset.num_classes, dtype=dtype, rngs=rngs)

    def __call__(self, x_BxHxWxC: jax.Array, rngs: nnx.Rngs | None = None) -> jax.Array:
        """The logits (batch, classes); `rngs` is for dropout layers, if added."""
        x_BxD = x_BxHxWxC.reshape(x_BxHxWxC.shape[0], -1)
        for layer in self.hidden:
            x_BxD = nnx.relu(layer(x_BxD))
        return self.head(x_BxD)


def create_model(config: Config, dataset: Dataset, *, rngs: nnx.Rngs) -> MLP:
    """Builds the model for the dataset's images and classes."""
    return MLP(config, dataset, rngs=rngs)
