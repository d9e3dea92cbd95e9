"""The model: a small convolutional network in Equinox, as in Flax's MNIST example."""

from __future__ import annotations

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp

from .config import Config
from .data import Dataset

# On the CPU, XLA compiles a convolution inside a loop into far slower code, so
# `train` runs this model there in programs of this many unrolled steps.
STEPS_PER_PROGRAM_ON_CPU = 2
# The name of the vmapped batch axis (used by models with batch normalization).
BATCH_AXIS = "batch"


class CNN(eqx.Module):
    """3x3 convolutions, each with 2x2 average pooling, then two dense layers."""

    convs: list[eqx.nn.Conv2d]
    pool: eqx.nn.AvgPool2d
    dense: eqx.nn.Linear
    head: eqx.nn.Linear

    def __init__(self, config: Config, dataset: Dataset, *, key: jax.Array) -> None:
        height, width, channels = dataset.image_shape
        features = [channels, *config.conv_features]
        keys = jax.random.split(key, len(features) + 1)
        self.convs = [
            eqx.nn.Conv2d(f_in, f_out, kernel_size=3, padding=1, key=k)
            for (f_in, f_out), k in zip(
                itertools.pairwise(features), keys, strict=False
            )
        ]
        self.pool = eqx.nn.AvgPool2d(kernel_size=2, stride=2)
        # Each pooling halves height and width, rounding down.
        shrink = 2 ** len(config.conv_features)
        flat = (height // shrink) * (width // shrink) * features[-1]
        self.dense = eqx.nn.Linear(flat, config.dense_size, key=keys[-2])
        self.head = eqx.nn.Linear(config.dense_size, dataset.num_classes, key=keys[-1])

    def __call__(
        self, x_HxWxC: jax.Array, state: eqx.nn.State, *, key: jax.Array | None = None
    ) -> tuple[jax.Array, eqx.nn.State]:
        """The logits of one image (classes,), and `state`, passed through.

        `key` is for dropout layers, if added.
        """
        x = jnp.transpose(x_HxWxC, (2, 0, 1))  # Equinox convolves channels-first.
        for conv in self.convs:
            x = self.pool(jax.nn.relu(conv(x)))
        return self.head(jax.nn.relu(self.dense(x.ravel()))), state


def create_model(config: Config, dataset: Dataset, *, key: jax.Array) -> CNN:
    """Builds the model for the dataset's images and classes."""
    return CNN(config, dataset, key=key)
