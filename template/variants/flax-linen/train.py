"""Training in Flax Linen: the train state, the loss and metrics, and the steps.

As in Flax's Linen examples, everything a step changes lives in one `TrainState`:
parameters, optimizer state and step count, plus the batch-norm statistics.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax.training import train_state

from .config import Config
from .data import Dataset
from .model import create_model
from .optimizer import create_optimizer

Batch = tuple[jax.Array, ...]
Metrics = dict[str, jax.Array]


class TrainState(train_state.TrainState):
    """Parameters, optimizer state, step count and batch statistics (if any)."""

    batch_stats: Any


def create_train_state(config: Config, dataset: Dataset, key: jax.Array) -> TrainState:
    """Initialises the model's variables from `key`, with the optimizer's state."""
    model = create_model(config, dataset)
    images = jnp.zeros((1, *dataset.image_shape))
    variables = model.init(key, images, train=False)
    return TrainState.create(
        apply_fn=model.apply,
        params=variables["params"],
        tx=create_optimizer(config, dataset.steps_per_epoch(config.batch_size)),
        batch_stats=variables.get("batch_stats", {}),
    )


def loss_and_metrics(
    logits_BxK: jax.Array,
    labels_B: jax.Array,
    mask_B: jax.Array,
    label_smoothing: float = 0.0,
) -> tuple[jax.Array, Metrics]:
    """The mean loss over the examples in `mask_B`, and each metric's sum over them.

    Cross-entropy in float32 (so bfloat16 gradients keep their precision); `count`
    is the number of examples, which every metric's sum is divided by.
    """
    logits_BxK = logits_BxK.astype(jnp.float32)
    targets_BxK = optax.smooth_labels(
        jax.nn.one_hot(labels_B, logits_BxK.shape[-1]), label_smoothing
    )
    losses_B = optax.softmax_cross_entropy(logits_BxK, targets_BxK) * mask_B
    correct_B = (jnp.argmax(logits_BxK, axis=-1) == labels_B) * mask_B
    metrics = {
        "loss": losses_B.sum(),
        "accuracy": correct_B.sum(),
        "count": mask_B.sum(),
    }
    return losses_B.sum() / mask_B.sum(), metrics


def train_step(
    state: TrainState, batch: Batch, key: jax.Array, config: Config
) -> tuple[TrainState, Metrics]:
    """One optimizer step on `batch` = (images, labels); `key` is for dropout."""
    images, labels = batch

    def loss_fn(params: Any) -> tuple[jax.Array, tuple[Metrics, Any]]:
        logits, updates = state.apply_fn(
            {"params": params, "batch_stats": state.batch_stats},
            images,
            train=True,
            rngs={"dropout": key},
            mutable=["batch_stats"],
        )
        mask = jnp.ones(labels.shape, jnp.float32)
        loss, metrics = loss_and_metrics(logits, labels, mask, config.label_smoothing)
        return loss, (metrics, updates.get("batch_stats", state.batch_stats))

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    (_, (metrics, batch_stats)), grads = grad_fn(state.params)
    metrics["grad_norm"] = optax.tree.norm(grads)  # The step's, not a sum.
    return state.apply_gradients(grads=grads, batch_stats=batch_stats), metrics


def predict(state: TrainState, images: jax.Array) -> jax.Array:
    """The logits of `images`, in inference mode (batch norm's running averages)."""
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    return state.apply_fn(variables, images, train=False)


def eval_step(state: TrainState, batch: Batch) -> Metrics:
    """Each metric's sum over `batch` = (images, labels, mask); padding has mask 0."""
    images, labels, mask = batch
    return loss_and_metrics(predict(state, images), labels, mask)[1]
