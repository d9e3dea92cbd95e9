"""The model: a small convolutional network in Flax Linen, as in Flax's MNIST."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import DTypeLike

from .config import Config
from .data import Dataset

# On the CPU, XLA compiles a convolution inside a loop into far slower code, so
# `train` runs this model there in programs of this many unrolled steps.
STEPS_PER_PROGRAM_ON_CPU = 2


class CNN(nn.Module):
    """3x3 convolutions, each with 2x2 average pooling, then two dense layers.

    The layers compute in `dtype`; their parameters stay float32.
    """

    conv_features: Sequence[int]
    dense_size: int
    num_classes: int
    dtype: DTypeLike = jnp.float32

    @nn.compact
    def __call__(self, x_BxHxWxC: jax.Array, train: bool) -> jax.Array:
        """The logits (batch, classes); `train` is for dropout, if added."""
        x = x_BxHxWxC
        for features in self.conv_features:
            x = nn.Conv(features=features, kernel_size=(3, 3), dtype=self.dtype)(x)
            x = nn.avg_pool(nn.relu(x), window_shape=(2, 2), strides=(2, 2))
        x_BxD = x.reshape(x.shape[0], -1)
        x_BxD = nn.relu(nn.Dense(features=self.dense_size, dtype=self.dtype)(x_BxD))
        return nn.Dense(features=self.num_classes, dtype=self.dtype)(x_BxD)


def create_model(config: Config, dataset: Dataset) -> CNN:
    """Builds the model; Linen infers the input shape at initialisation."""
    return CNN(
        conv_features=config.conv_features,
        dense_size=config.dense_size,
        num_classes=dataset.num_classes,
        dtype=jnp.dtype(config.precision),
    )
