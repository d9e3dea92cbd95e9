"""Training in Flax NNX: the train state, the loss and metrics, and the steps.

The model and its optimizer are split once into a static graph and a pytree of
arrays (`nnx.split`, the fast form of Flax's performance guide), so the training
loop can donate the arrays and run an epoch of steps in one `lax.scan`; each step
merges them back into objects inside the trace.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct

from .config import Config
from .data import Dataset
from .model import create_model
from .optimizer import create_optimizer

Batch = tuple[jax.Array, ...]
Metrics = dict[str, jax.Array]


class TrainState(struct.PyTreeNode):
    """The model and its optimizer: their arrays, and the graph to rebuild them."""

    graphdef: nnx.GraphDef = struct.field(pytree_node=False)
    arrays: nnx.State


def create_train_state(config: Config, dataset: Dataset, key: jax.Array) -> TrainState:
    """Builds the model from `key`, and its optimizer."""
    model = create_model(config, dataset, rngs=nnx.Rngs(params=key))
    tx = create_optimizer(config, dataset.steps_per_epoch(config.batch_size))
    return TrainState(*nnx.split((model, nnx.Optimizer(model, tx, wrt=nnx.Param))))


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
    model, optimizer = nnx.merge(state.graphdef, state.arrays)
    model.train()  # Batch norm: the batch's statistics, and its averages updated.
    images, labels = batch

    def loss_fn(model: nnx.Module) -> tuple[jax.Array, Metrics]:
        logits = model(images, rngs=nnx.Rngs(dropout=key))
        mask = jnp.ones(labels.shape, jnp.float32)
        return loss_and_metrics(logits, labels, mask, config.label_smoothing)

    (_, metrics), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model)
    optimizer.update(model, grads)
    metrics["grad_norm"] = optax.tree.norm(grads)  # The step's, not a sum.
    return state.replace(arrays=nnx.state((model, optimizer))), metrics


def predict(state: TrainState, images: jax.Array) -> jax.Array:
    """The logits of `images`, in inference mode (batch norm's running averages)."""
    model, _ = nnx.merge(state.graphdef, state.arrays)
    model.eval()
    return model(images)


def eval_step(state: TrainState, batch: Batch) -> Metrics:
    """Each metric's sum over `batch` = (images, labels, mask); padding has mask 0."""
    images, labels, mask = batch
    return loss_and_metrics(predict(state, images), labels, mask)[1]
