"""The model: a small vision transformer (ViT) in Equinox."""

from __future__ import annotations

import equinox as eqx
import jax

from .config import Config
from .data import Dataset
from .patches import (
    choose_patch_size,
    patchify,
)

# The name of the vmapped batch axis (used by models with batch normalization).
BATCH_AXIS = "batch"


class EncoderBlock(eqx.Module):
    """A pre-norm transformer block: self-attention, then an MLP, each residual."""

    attention_norm: eqx.nn.LayerNorm
    attention: eqx.nn.MultiheadAttention
    mlp_norm: eqx.nn.LayerNorm
    mlp_in: eqx.nn.Linear
    mlp_out: eqx.nn.Linear

    def __init__(
        self, embed_dim: int, num_heads: int, mlp_dim: int, *, key: jax.Array
    ) -> None:
        attention_key, in_key, out_key = jax.random.split(key, 3)
        self.attention_norm = eqx.nn.LayerNorm(embed_dim)
        self.attention = eqx.nn.MultiheadAttention(
            num_heads,
            embed_dim,
            use_query_bias=True,
            use_key_bias=True,
            use_value_bias=True,
            use_output_bias=True,
            key=attention_key,
        )
        self.mlp_norm = eqx.nn.LayerNorm(embed_dim)
        self.mlp_in = eqx.nn.Linear(embed_dim, mlp_dim, key=in_key)
        self.mlp_out = eqx.nn.Linear(mlp_dim, embed_dim, key=out_key)

    def __call__(self, x_LxD: jax.Array) -> jax.Array:
        """Returns the updated token sequence, same shape."""
        y_LxD = jax.vmap(self.attention_norm)(x_LxD)
        x_LxD = x_LxD + self.attention(y_LxD, y_LxD, y_LxD)
        hidden = jax.nn.gelu(jax.vmap(self.mlp_in)(jax.vmap(self.mlp_norm)(x_LxD)))
        return x_LxD + jax.vmap(self.mlp_out)(hidden)


class ViT(eqx.Module):
    """Patch embeddings plus learned positions, encoder blocks, mean pooling, head."""

    patch_size: int = eqx.field(static=True)
    embed: eqx.nn.Linear
    positions: jax.Array
    blocks: tuple[EncoderBlock, ...]
    norm: eqx.nn.LayerNorm
    head: eqx.nn.Linear

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        num_classes: int,
        config: Config,
        *,
        key: jax.Array,
    ) -> None:
        height, width, channels = image_shape
        embed_key, positions_key, head_key, *block_keys = jax.random.split(
            key, 3 + config.num_layers
        )
        self.patch_size = choose_patch_size(image_shape, config.patch_size)
        num_patches = (height // self.patch_size) * (width // self.patch_size)
        # A linear map of flattened patches: a convolution with stride = kernel.
        self.embed = eqx.nn.Linear(
            self.patch_size**2 * channels, config.embed_dim, key=embed_key
        )
        self.positions = 0.02 * jax.random.normal(
            positions_key, (num_patches, config.embed_dim)
        )
        self.blocks = tuple(
            EncoderBlock(
                config.embed_dim, config.num_heads, config.mlp_dim, key=block_key
            )
            for block_key in block_keys
        )
        self.norm = eqx.nn.LayerNorm(config.embed_dim)
        self.head = eqx.nn.Linear(config.embed_dim, num_classes, key=head_key)

    def __call__(
        self, x_HxWxC: jax.Array, state: eqx.nn.State, *, key: jax.Array | None = None
    ) -> tuple[jax.Array, eqx.nn.State]:
        """Returns the logits of one image, shape (num_classes,), and `state`.

        The ViT keeps no state; it passes `state` through so every model of the
        project is called alike.
        """
        patches_LxP = patchify(x_HxWxC[None], self.patch_size)[0]
        x_LxD = jax.vmap(self.embed)(patches_LxP) + self.positions
        for block in self.blocks:
            x_LxD = block(x_LxD)
        x_D = jax.vmap(self.norm)(x_LxD).mean(axis=0)
        return self.head(x_D), state


def create_model(config: Config, dataset: Dataset, *, key: jax.Array) -> ViT:
    """Builds the model for the dataset's images and classes."""
    return ViT(dataset.image_shape, dataset.num_classes, config, key=key)
