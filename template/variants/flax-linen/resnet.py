"""The model: a small ResNet in Flax Linen, sized for small images.

Batch normalization keeps running statistics in the `batch_stats` collection: the
training step applies the model with `train=True` and `mutable=["batch_stats"]` and
stores the updated statistics in the train state; evaluation uses them as they are.
"""

from __future__ import annotations

from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import DTypeLike

from .config import Config
from .data import Dataset

# On the CPU, XLA compiles a convolution inside a loop into far slower code, so
# `train` runs this model there in programs of this many unrolled steps.
STEPS_PER_PROGRAM_ON_CPU = 2
# As in Flax's ImageNet example: running statistics follow recent batches.
BATCH_NORM_MOMENTUM = 0.9


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, added to the (projected) input."""

    features: int
    strides: int
    dtype: DTypeLike = jnp.float32

    @nn.compact
    def __call__(self, x_BxHxWxC: jax.Array, train: bool) -> jax.Array:
        """Returns the block's output; strides > 1 shrink height and width."""
        norm = partial(
            nn.BatchNorm,
            use_running_average=not train,
            momentum=BATCH_NORM_MOMENTUM,
            dtype=self.dtype,
        )
        conv = partial(nn.Conv, kernel_size=(3, 3), use_bias=False, dtype=self.dtype)
        y = nn.relu(norm()(conv(self.features, strides=self.strides)(x_BxHxWxC)))
        y = norm()(conv(self.features)(y))
        shortcut = x_BxHxWxC
        if self.strides != 1 or x_BxHxWxC.shape[-1] != self.features:
            # A 1x1 convolution matches the shortcut to a new size or width.
            shortcut = nn.Conv(
                self.features,
                (1, 1),
                strides=self.strides,
                use_bias=False,
                dtype=self.dtype,
            )(x_BxHxWxC)
            shortcut = norm()(shortcut)
        return nn.relu(y + shortcut)


class ResNet(nn.Module):
    """A 3x3 stem, stages of residual blocks, global average pooling, a classifier.

    The layers compute in `dtype`; their parameters and batch norm's running
    statistics stay float32.
    """

    stage_widths: tuple[int, ...]
    blocks_per_stage: int
    num_classes: int
    dtype: DTypeLike = jnp.float32

    @nn.compact
    def __call__(self, x_BxHxWxC: jax.Array, train: bool) -> jax.Array:
        """Returns the logits, shape (batch, num_classes)."""
        x = nn.Conv(self.stage_widths[0], (3, 3), use_bias=False, dtype=self.dtype)(
            x_BxHxWxC
        )
        x = nn.BatchNorm(
            use_running_average=not train,
            momentum=BATCH_NORM_MOMENTUM,
            dtype=self.dtype,
        )(x)
        x = nn.relu(x)
        for stage, width in enumerate(self.stage_widths):
            for index in range(self.blocks_per_stage):
                # The first block of every stage but the first halves the size.
                strides = 2 if stage > 0 and index == 0 else 1
                x = ResidualBlock(width, strides, dtype=self.dtype)(x, train)
        x_BxD = x.mean(axis=(1, 2))
        return nn.Dense(self.num_classes, dtype=self.dtype)(x_BxD)


def create_model(config: Config, dataset: Dataset) -> ResNet:
    """Builds the model; Linen infers the input shape at initialisation."""
    return ResNet(
        stage_widths=config.stage_widths,
        blocks_per_stage=config.blocks_per_stage,
        num_classes=dataset.num_classes,
        dtype=jnp.dtype(config.precision),
    )
