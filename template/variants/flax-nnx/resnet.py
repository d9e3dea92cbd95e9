"""The model: a small ResNet in Flax NNX, sized for small images.

Batch normalization keeps running statistics in `nnx.BatchStat` variables, so they
travel with the model's state: updated in training mode (`model.train()`), used as
they are in evaluation mode (`model.eval()`), and saved with each checkpoint.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import DTypeLike

from .config import Config
from .data import Dataset

# On the CPU, XLA compiles a convolution inside a loop into far slower code, so
# `train` runs this model there in programs of this many unrolled steps.
STEPS_PER_PROGRAM_ON_CPU = 2
# As in Flax's ImageNet example: running statistics follow recent batches.
BATCH_NORM_MOMENTUM = 0.9


class ResidualBlock(nnx.Module):
    """Two 3x3 convolutions with batch norm, added to the (projected) input."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        strides: int,
        *,
        dtype: DTypeLike = jnp.float32,
        rngs: nnx.Rngs,
    ) -> None:
        self.conv1 = nnx.Conv(
            in_channels,
            out_channels,
            kernel_size=(3, 3),
            strides=strides,
            use_bias=False,
            dtype=dtype,
            rngs=rngs,
        )
        self.norm1 = nnx.BatchNorm(
            out_channels, momentum=BATCH_NORM_MOMENTUM, dtype=dtype, rngs=rngs
        )
        self.conv2 = nnx.Conv(
            out_channels,
            out_channels,
            kernel_size=(3, 3),
            use_bias=False,
            dtype=dtype,
            rngs=rngs,
        )
        self.norm2 = nnx.BatchNorm(
            out_channels, momentum=BATCH_NORM_MOMENTUM, dtype=dtype, rngs=rngs
        )
        # A 1x1 convolution matches the shortcut to a new size or width.
        self.projection: nnx.Sequential | None
        if strides != 1 or in_channels != out_channels:
            self.projection = nnx.Sequential(
                nnx.Conv(
                    in_channels,
                    out_channels,
                    kernel_size=(1, 1),
                    strides=strides,
                    use_bias=False,
                    dtype=dtype,
                    rngs=rngs,
                ),
                nnx.BatchNorm(
                    out_channels, momentum=BATCH_NORM_MOMENTUM, dtype=dtype, rngs=rngs
                ),
            )
        else:
            self.projection = None

    def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
        """Returns the block's output; strides > 1 shrink height and width."""
        shortcut = x_BxHxWxC
        if self.projection is not None:
            shortcut = self.projection(x_BxHxWxC)
        y = nnx.relu(self.norm1(self.conv1(x_BxHxWxC)))
        y = self.norm2(self.conv2(y))
        return nnx.relu(y + shortcut)


class ResNet(nnx.Module):
    """A 3x3 stem, stages of residual blocks, global average pooling, a classifier.

    The layers compute in `dtype`; their parameters and batch norm's running
    statistics stay float32.
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        num_classes: int,
        stage_widths: tuple[int, ...],
        blocks_per_stage: int,
        *,
        dtype: DTypeLike = jnp.float32,
        rngs: nnx.Rngs,
    ) -> None:
        channels = image_shape[-1]
        self.stem_conv = nnx.Conv(
            channels,
            stage_widths[0],
            kernel_size=(3, 3),
            use_bias=False,
            dtype=dtype,
            rngs=rngs,
        )
        self.stem_norm = nnx.BatchNorm(
            stage_widths[0], momentum=BATCH_NORM_MOMENTUM, dtype=dtype, rngs=rngs
        )
        blocks = []
        width_in = stage_widths[0]
        for stage, width in enumerate(stage_widths):
            for index in range(blocks_per_stage):
                # The first block of every stage but the first halves the size.
                strides = 2 if stage > 0 and index == 0 else 1
                blocks.append(
                    ResidualBlock(width_in, width, strides, dtype=dtype, rngs=rngs)
                )
                width_in = width
        self.blocks = nnx.List(blocks)
        self.head = nnx.Linear(width_in, num_classes, dtype=dtype, rngs=rngs)

    def __call__(self, x_BxHxWxC: jax.Array, rngs: nnx.Rngs | None = None) -> jax.Array:
        """The logits (batch, classes); `rngs` is for dropout layers, if added."""
        x = nnx.relu(self.stem_norm(self.stem_conv(x_BxHxWxC)))
        for block in self.blocks:
            x = block(x)
        x_BxD = x.mean(axis=(1, 2))
        return self.head(x_BxD)


def create_model(config: Config, dataset: Dataset, *, rngs: nnx.Rngs) -> ResNet:
    """Builds the model for the dataset's images and classes."""
    return ResNet(
        dataset.image_shape,
        dataset.num_classes,
        config.stage_widths,
        config.blocks_per_stage,
        dtype=jnp.dtype(config.precision),
        rngs=rngs,
    )
