"""The model: a multilayer perceptron in Equinox."""

from __future__ import annotations

import itertools

import equinox as eqx
import jax

from .config import Config
from .data import Dataset

# The name of the vmapped batch axis (used by models with batch normalization).
BATCH_AXIS = "batch"


class MLP(eqx.Module):
    """Flattens an image, then applies ReLU hidden layers and a linear classifier."""

    hidden: tuple[eqx.nn.Linear, ...]
    head: eqx.nn.Linear

    def __init__(
        self,
        in_features: int,
        hidden_sizes: tuple[int, ...],
        num_classes: int,
        *,
        key: jax.Array,
    ) -> None:
        widths = [in_features, *hidden_sizes]
        *hidden_keys, head_key = jax.random.split(key, len(hidden_sizes) + 1)
        self.hidden = tuple(
            eqx.nn.Linear(width_in, width_out, key=layer_key)
            for (width_in, width_out), layer_key in zip(
                itertools.pairwise(widths), hidden_keys, strict=True
            )
        )
        self.head = eqx.nn.Linear(widths[-1], num_classes, key=head_key)

    def __call__(
        self, x_HxWxC: jax.Array, state: eqx.nn.State, *, key: jax.Array | None = None
    ) -> tuple[jax.Array, eqx.nn.State]:
        """Returns the logits of one image, shape (num_classes,), and `state`.

        The MLP keeps no state; it passes `state` through so every model of the
        project is called alike.
        """
        x_D = x_HxWxC.ravel()
        for layer in self.hidden:
            x_D = jax.nn.relu(layer(x_D))
        return self.head(x_D), state


def create_model(config: Config, dataset: Dataset, *, key: jax.Array) -> MLP:
    """Builds the model for the dataset's images and classes."""
    height, width, channels = dataset.image_shape
    return MLP(
        height * width * channels, config.hidden_sizes, dataset.num_classes, key=key
    )
