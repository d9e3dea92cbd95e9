"""The model: a small vision transformer (ViT) in Flax NNX."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import DTypeLike

from .config import Config
from .data import Dataset
from .patches import (
    choose_patch_size,
    patchify,
)


class EncoderBlock(nnx.Module):
    """A pre-norm transformer block: self-attention, then an MLP, each residual."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        mlp_dim: int,
        *,
        dtype: DTypeLike = jnp.float32,
        rngs: nnx.Rngs,
    ) -> None:
        self.attention_norm = nnx.LayerNorm(embed_dim, dtype=dtype, rngs=rngs)
        self.attention = nnx.MultiHeadAttention(
            num_heads=num_heads,
            in_features=embed_dim,
            decode=False,
            dtype=dtype,
            rngs=rngs,
        )
        self.mlp_norm = nnx.LayerNorm(embed_dim, dtype=dtype, rngs=rngs)
        self.mlp_in = nnx.Linear(embed_dim, mlp_dim, dtype=dtype, rngs=rngs)
        self.mlp_out = nnx.Linear(mlp_dim, embed_dim, dtype=dtype, rngs=rngs)

    def __call__(self, x_BxLxD: jax.Array) -> jax.Array:
        """Returns the updated token sequence, same shape."""
        x_BxLxD = x_BxLxD + self.attention(self.attention_norm(x_BxLxD))
        hidden = nnx.gelu(self.mlp_in(self.mlp_norm(x_BxLxD)))
        return x_BxLxD + self.mlp_out(hidden)


class ViT(nnx.Module):
    """Patch embeddings plus learned positions, encoder blocks, mean pooling, head.

    The layers compute in the dtype `config.precision` names; their parameters stay
    float32.
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        num_classes: int,
        config: Config,
        *,
        rngs: nnx.Rngs,
    ) -> None:
        height, width, channels = image_shape
        dtype = jnp.dtype(config.precision)
        self.patch_size = choose_patch_size(image_shape, config.patch_size)
        num_patches = (height // self.patch_size) * (width // self.patch_size)
        # A linear map of flattened patches: a convolution with stride = kernel.
        self.embed = nnx.Linear(
            self.patch_size**2 * channels, config.embed_dim, dtype=dtype, rngs=rngs
        )
        self.positions = nnx.Param(
            nnx.initializers.normal(stddev=0.02)(
                rngs.params(), (num_patches, config.embed_dim)
            )
        )
        self.blocks = nnx.List(
            [
                EncoderBlock(
                    config.embed_dim,
                    config.num_heads,
                    config.mlp_dim,
                    dtype=dtype,
                    rngs=rngs,
                )
                for _ in range(config.num_layers)
            ]
        )
        self.norm = nnx.LayerNorm(config.embed_dim, dtype=dtype, rngs=rngs)
        self.head = nnx.Linear(config.embed_dim, num_classes, dtype=dtype, rngs=rngs)

    def __call__(self, x_BxHxWxC: jax.Array, rngs: nnx.Rngs | None = None) -> jax.Array:
        """The logits (batch, classes); `rngs` is for dropout layers, if added."""
        x_BxLxD = self.embed(patchify(x_BxHxWxC, self.patch_size))
        # Cast, or the float32 parameter would promote bfloat16 activations to float32.
        x_BxLxD = x_BxLxD + self.positions[None].astype(x_BxLxD.dtype)
        for block in self.blocks:
            x_BxLxD = block(x_BxLxD)
        x_BxD = self.norm(x_BxLxD).mean(axis=1)
        return self.head(x_BxD)


def create_model(config: Config, dataset: Dataset, *, rngs: nnx.Rngs) -> ViT:
    """Builds the model for the dataset's images and classes."""
    return ViT(dataset.image_shape, dataset.num_classes, config, rngs=rngs)
