"""Training in Equinox: the train state, the loss and metrics, and the steps.

As in Equinox's examples, a model is a pytree of arrays and static structure:
`eqx.partition` keeps its arrays in the `TrainState` (what the training loop
donates and scans over) and its static part beside them, and each step rebuilds it
with `eqx.combine` and differentiates it with `eqx.filter_value_and_grad`. Models
map one example; `jax.vmap` batches them, naming the axis that batch norm averages
over.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from .config import Config
from .data import Dataset
from .model import BATCH_AXIS, create_model
from .optimizer import create_optimizer

Batch = tuple[jax.Array, ...]
Metrics = dict[str, jax.Array]


class TrainState(eqx.Module):
    """The model's arrays and static part, its batch-norm state, and the optimizer."""

    params: Any
    static: Any = eqx.field(static=True)
    model_state: eqx.nn.State
    opt_state: optax.OptState
    tx: optax.GradientTransformation = eqx.field(static=True)
    precision: str = eqx.field(static=True)


def create_train_state(config: Config, dataset: Dataset, key: jax.Array) -> TrainState:
    """Builds the model from `key`, and its optimizer."""
    model, model_state = eqx.nn.make_with_state(create_model)(config, dataset, key=key)
    params, static = eqx.partition(model, eqx.is_array)
    tx = create_optimizer(config, dataset.steps_per_epoch(config.batch_size))
    state = tx.init(params)
    return TrainState(params, static, model_state, state, tx, config.precision)


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


def in_precision(model: Any, precision: str) -> Any:
    """`model` with its floating arrays cast to `precision` (differentiably)."""
    dtype = jnp.dtype(precision)
    cast = lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x  # noqa: E731
    return jax.tree.map(cast, model)


def forward(
    model: Any,
    model_state: eqx.nn.State,
    images_B: jax.Array,
    key: jax.Array | None,
) -> tuple[jax.Array, eqx.nn.State]:
    """The logits of a batch and the updated state: the model mapped over examples."""
    keys = None if key is None else jax.random.split(key, len(images_B))
    batched = jax.vmap(
        lambda x, state, k: model(x, state, key=k),
        axis_name=BATCH_AXIS,
        in_axes=(0, None, 0 if key is not None else None),
        out_axes=(0, None),
    )
    return batched(images_B, model_state, keys)


def train_step(
    state: TrainState, batch: Batch, key: jax.Array, config: Config
) -> tuple[TrainState, Metrics]:
    """One optimizer step on `batch` = (images, labels); `key` is for dropout."""
    images, labels = batch
    model = eqx.combine(state.params, state.static)

    def loss_fn(model: eqx.Module) -> tuple[jax.Array, tuple[Metrics, eqx.nn.State]]:
        logits, model_state = forward(
            in_precision(model, state.precision),
            state.model_state,
            images.astype(state.precision),
            key,
        )
        mask = jnp.ones(labels.shape, jnp.float32)
        loss, metrics = loss_and_metrics(logits, labels, mask, config.label_smoothing)
        return loss, (metrics, model_state)

    grad_fn = eqx.filter_value_and_grad(loss_fn, has_aux=True)
    (_, (metrics, model_state)), grads = grad_fn(model)
    updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
    params = eqx.apply_updates(state.params, updates)
    metrics["grad_norm"] = optax.tree.norm(grads)  # The step's, not a sum.
    return eqx.tree_at(
        lambda s: (s.params, s.model_state, s.opt_state),
        state,
        (params, model_state, opt_state),
    ), metrics


def predict(state: TrainState, images: jax.Array) -> jax.Array:
    """The logits of `images`, in inference mode (batch norm's running averages)."""
    model = eqx.nn.inference_mode(eqx.combine(state.params, state.static))
    model = in_precision(model, state.precision)
    logits, _ = forward(model, state.model_state, images.astype(state.precision), None)
    return logits


def eval_step(state: TrainState, batch: Batch) -> Metrics:
    """Each metric's sum over `batch` = (images, labels, mask); padding has mask 0."""
    images, labels, mask = batch
    return loss_and_metrics(predict(state, images), labels, mask)[1]
