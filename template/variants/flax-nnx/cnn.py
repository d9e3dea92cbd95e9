"""The model: a small convolutional network in Flax NNX, as in Flax's MNIST example."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
from flax import nnx

from .config import Config
from .data import Dataset

# On the CPU, XLA compiles a convolution inside a loop into far slower code, so
# `train` runs this model there in programs of this many unrolled steps.
STEPS_PER_PROGRAM_ON_CPU = 2


class CNN(nnx.Module):
    """3x3 convolutions, each with 2x2 average pooling, then two dense layers.

    The layers compute in `config.precision`; their parameters stay float32.
    """

    def __init__(self, config: Config, dataset: Dataset, *, rngs: nnx.Rngs) -> None:
        dtype = jnp.dtype(config.precision)
        height, width, channels = dataset.image_shape
        features = [channels, *config.conv_features]
        self.convs = nnx.List(
            [
                nnx.Conv(f_in, f_out, kernel_size=(3, 3), dtype=dtype, rngs=rngs)
                for f_in, f_out in itertools.pairwise(features)
            ]
        )
        # Each pooling halves height and width, rounding down.
        shrink = 2 ** len(config.conv_features)
        flat = (height // shrink) * (width // shrink) * features[-1]
        self.dense = nnx.Linear(flat, config.dense_size, dtype=dtype, rngs=rngs)
        self.head = nnx.Linear(
            config.dense_size, dataset.num_classes, dtype=dtype, rngs=rngs
        )

    def __call__(self, x_BxHxWxC: jax.Array, rngs: nnx.Rngs | None = None) -> jax.Array:
        """The logits (batch, classes); `rngs` is for dropout layers, if added."""
        x = x_BxHxWxC
        for conv in self.convs:
            x = nnx.avg_pool(nnx.relu(conv(x)), window_shape=(2, 2), strides=(2, 2))
        x_BxD = nnx.relu(self.dense(x.reshape(x.shape[0], -1)))
        return self.head(x_BxD)


def create_model(config: Config, dataset: Dataset, *, rngs: nnx.Rngs) -> CNN:
    """Builds the model for the dataset's images and classes."""
    return CNN(config, dataset, rngs=rngs)
