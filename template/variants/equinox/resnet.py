"""The model: a small ResNet in Equinox, sized for small images.

Batch normalization keeps running statistics in an `eqx.nn.State`, passed into and
returned from every call: the training step threads the updated state through, and
`eqx.nn.inference_mode` makes evaluation read the statistics without updating them.
The statistics are averaged over the vmapped axis named `BATCH_AXIS`.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from .config import Config
from .data import Dataset

# On the CPU, XLA compiles a convolution inside a loop into far slower code, so
# `train` runs this model there in programs of this many unrolled steps.
STEPS_PER_PROGRAM_ON_CPU = 2
# The name of the vmapped batch axis that batch normalization averages over.
BATCH_AXIS = "batch"
# As in Flax's ImageNet example: running statistics follow recent batches.
BATCH_NORM_MOMENTUM = 0.9


def batch_norm(channels: int) -> eqx.nn.BatchNorm:
    """Batch normalization over the batch axis, with running averages.

    Mode "batch" normalizes with the batch's statistics in training and the running
    averages in inference, as Flax and PyTorch do.
    """
    return eqx.nn.BatchNorm(
        channels, axis_name=BATCH_AXIS, momentum=BATCH_NORM_MOMENTUM, mode="batch"
    )


def normalize(
    norm: eqx.nn.BatchNorm, x: jax.Array, state: eqx.nn.State
) -> tuple[jax.Array, eqx.nn.State]:
    """Applies `norm` to `x` in float32, as Flax does; the output keeps x's dtype.

    Under bfloat16 precision the running statistics stay float32: normalizing in
    float32 keeps the batch statistics precise, and the cast back keeps the
    following layers in bfloat16 (the float32 statistics would promote them).
    """
    y, state = norm(x.astype(jnp.float32), state)
    return y.astype(x.dtype), state


class ResidualBlock(eqx.Module):
    """Two 3x3 convolutions with batch norm, added to the (projected) input."""

    conv1: eqx.nn.Conv2d
    norm1: eqx.nn.BatchNorm
    conv2: eqx.nn.Conv2d
    norm2: eqx.nn.BatchNorm
    # A 1x1 convolution and norm match the shortcut to a new size or width.
    projection: tuple[eqx.nn.Conv2d, eqx.nn.BatchNorm] | None

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, *, key: jax.Array
    ) -> None:
        keys = jax.random.split(key, 3)
        self.conv1 = eqx.nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size=3,
            stride=stride,
            padding=1,
            use_bias=False,
            key=keys[0],
        )
        self.norm1 = batch_norm(out_channels)
        self.conv2 = eqx.nn.Conv2d(
            out_channels, out_channels, 3, padding=1, use_bias=False, key=keys[1]
        )
        self.norm2 = batch_norm(out_channels)
        self.projection = None
        if stride != 1 or in_channels != out_channels:
            self.projection = (
                eqx.nn.Conv2d(
                    in_channels,
                    out_channels,
                    kernel_size=1,
                    stride=stride,
                    use_bias=False,
                    key=keys[2],
                ),
                batch_norm(out_channels),
            )

    def __call__(
        self, x_CxHxW: jax.Array, state: eqx.nn.State
    ) -> tuple[jax.Array, eqx.nn.State]:
        """Returns the block's output and the updated state."""
        y, state = normalize(self.norm1, self.conv1(x_CxHxW), state)
        y, state = normalize(self.norm2, self.conv2(jax.nn.relu(y)), state)
        shortcut = x_CxHxW
        if self.projection is not None:
            conv, norm = self.projection
            shortcut, state = normalize(norm, conv(x_CxHxW), state)
        return jax.nn.relu(y + shortcut), state


class ResNet(eqx.Module):
    """A 3x3 stem, stages of residual blocks, global average pooling, a classifier."""

    stem_conv: eqx.nn.Conv2d
    stem_norm: eqx.nn.BatchNorm
    blocks: tuple[ResidualBlock, ...]
    head: eqx.nn.Linear

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        num_classes: int,
        stage_widths: tuple[int, ...],
        blocks_per_stage: int,
        *,
        key: jax.Array,
    ) -> None:
        channels = image_shape[-1]
        stem_key, head_key, *block_keys = jax.random.split(
            key, 2 + len(stage_widths) * blocks_per_stage
        )
        self.stem_conv = eqx.nn.Conv2d(
            channels, stage_widths[0], 3, padding=1, use_bias=False, key=stem_key
        )
        self.stem_norm = batch_norm(stage_widths[0])
        blocks: list[ResidualBlock] = []
        width_in = stage_widths[0]
        for stage, width in enumerate(stage_widths):
            for index in range(blocks_per_stage):
                # The first block of every stage but the first halves the size.
                stride = 2 if stage > 0 and index == 0 else 1
                block_key = block_keys[len(blocks)]
                blocks.append(ResidualBlock(width_in, width, stride, key=block_key))
                width_in = width
        self.blocks = tuple(blocks)
        self.head = eqx.nn.Linear(width_in, num_classes, key=head_key)

    def __call__(
        self, x_HxWxC: jax.Array, state: eqx.nn.State, *, key: jax.Array | None = None
    ) -> tuple[jax.Array, eqx.nn.State]:
        """Returns the logits of one image, shape (num_classes,), and the state."""
        x = jnp.transpose(x_HxWxC, (2, 0, 1))  # Equinox convolves channels-first.
        x, state = normalize(self.stem_norm, self.stem_conv(x), state)
        x = jax.nn.relu(x)
        for block in self.blocks:
            x, state = block(x, state)
        x_D = x.mean(axis=(1, 2))
        return self.head(x_D), state


def create_model(config: Config, dataset: Dataset, *, key: jax.Array) -> ResNet:
    """Builds the model for the dataset's images and classes."""
    return ResNet(
        dataset.image_shape,
        dataset.num_classes,
        config.stage_widths,
        config.blocks_per_stage,
        key=key,
    )
