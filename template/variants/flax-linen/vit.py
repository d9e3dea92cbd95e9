"""The model: a small vision transformer (ViT) in Flax Linen."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import DTypeLike

from .config import Config
from .data import Dataset
from .patches import (
    choose_patch_size,
    patchify,
)


class EncoderBlock(nn.Module):
    """A pre-norm transformer block: self-attention, then an MLP, each residual."""

    num_heads: int
    mlp_dim: int
    dtype: DTypeLike = jnp.float32

    @nn.compact
    def __call__(self, x_BxLxD: jax.Array) -> jax.Array:
        """Returns the updated token sequence, same shape."""
        y = nn.LayerNorm(dtype=self.dtype)(x_BxLxD)
        x_BxLxD = x_BxLxD + nn.MultiHeadDotProductAttention(
            num_heads=self.num_heads, dtype=self.dtype
        )(y, y)
        y = nn.LayerNorm(dtype=self.dtype)(x_BxLxD)
        y = nn.gelu(nn.Dense(self.mlp_dim, dtype=self.dtype)(y))
        return x_BxLxD + nn.Dense(x_BxLxD.shape[-1], dtype=self.dtype)(y)


class ViT(nn.Module):
    """Patch embeddings plus learned positions, encoder blocks, mean pooling, head.

    The layers compute in `dtype`; their parameters stay float32.
    """

    patch_size: int
    embed_dim: int
    num_layers: int
    num_heads: int
    mlp_dim: int
    num_classes: int
    dtype: DTypeLike = jnp.float32

    @nn.compact
    def __call__(self, x_BxHxWxC: jax.Array, train: bool) -> jax.Array:
        """Returns the logits, shape (batch, num_classes).

        `train` changes nothing here; every model of the project takes it.
        """
        del train
        patch_size = choose_patch_size(x_BxHxWxC.shape[1:], self.patch_size)
        # A linear map of flattened patches: a convolution with stride = kernel.
        x_BxLxD = nn.Dense(self.embed_dim, dtype=self.dtype)(
            patchify(x_BxHxWxC, patch_size)
        )
        positions = self.param(
            "positions",
            nn.initializers.normal(stddev=0.02),
            x_BxLxD.shape[1:],
        )
        # Cast, or the float32 parameter would promote bfloat16 activations to float32.
        x_BxLxD = x_BxLxD + positions[None].astype(x_BxLxD.dtype)
        for _ in range(self.num_layers):
            x_BxLxD = EncoderBlock(self.num_heads, self.mlp_dim, dtype=self.dtype)(
                x_BxLxD
            )
        x_BxD = nn.LayerNorm(dtype=self.dtype)(x_BxLxD).mean(axis=1)
        return nn.Dense(self.num_classes, dtype=self.dtype)(x_BxD)


def create_model(config: Config, dataset: Dataset) -> ViT:
    """Builds the model; Linen infers the input shape at initialisation."""
    return ViT(
        patch_size=config.patch_size,
        embed_dim=config.embed_dim,
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        mlp_dim=config.mlp_dim,
        num_classes=dataset.num_classes,
        dtype=jnp.dtype(config.precision),
    )
