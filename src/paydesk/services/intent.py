"""Intent models as a service: intake routing by the trained model, training and evaluation.

`install(ctx)` (in PLUGINS) puts the default TOPAY model behind `ctx.classifier` (ticket category
at intake) and `ctx.extras["intent_model"]` (`predict(text, locale) -> (sub_intent, confidence)`
for the assistant). Nothing is loaded at install: the model is read or trained on first use, and
a server warms it in a background thread at startup so the first ticket does not wait.

Routing keeps two safety nets of the keyword classifier (`domain.classify`): it decides when the
model is unsure or the predicted sub-intent names no topic ("human_request"), and a message with
complaint words is always a complaint — the regulatory clock must never be missed because a
model preferred "transactions".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from paydesk.assistant.intent.dataset import LabelledData
from paydesk.assistant.intent.store import DEFAULT_MODEL, ModelHolder, model_dir
from paydesk.assistant.intent.taxonomy import category_of
from paydesk.domain.classify import mentions_complaint
from paydesk.domain.tickets import Category
from paydesk.services.context import AppContext
from paydesk.settings import Settings

if TYPE_CHECKING:  # numpy/scikit-learn load on first use: plugins install on every command
    import numpy as np

    from paydesk.assistant.intent.model import IntentModel, TrainConfig, TrainProgress

log = logging.getLogger(__name__)

# Below this category confidence the keyword classifier decides. Chosen on the held-out set
# (tests/assistant/intent): every category answer above it was right, and only 1 of 109
# phrasings fell below it — those few go to the keyword list rather than a coin flip.
CATEGORY_THRESHOLD = 0.5
ROUTING_CHARS = 1_000  # subject + the head of the body carry the topic
# The cheap head decides alone at or above this category confidence. On the held-out phrasings
# (tests/assistant/intent) the cascade then routes as well as the full model while about nine in
# ten messages skip the sentence encoder.
SCREEN_THRESHOLD = 0.7


def install(ctx: AppContext) -> None:
    from paydesk.assistant import encoder

    # the sentence encoder's embedding table is memory-mapped from the data dir (shared pages)
    encoder.configure(ctx.settings.data_dir / "cache")
    holder = ModelHolder(ctx.settings.data_dir, DEFAULT_MODEL)
    ctx.extras["intent_model"] = holder
    fallback = ctx.classifier
    ctx.classifier = _routing_classifier(holder, fallback)
    ctx.extras["classify_many"] = _routing_many(holder, fallback)
    ctx.extras.setdefault("background", []).append(_warm_up)


def _routing_classifier(
    holder: ModelHolder, fallback: Callable[[str, str], Category]
) -> Callable[[str, str], Category]:
    many = _routing_many(holder, fallback)

    def classify(text: str, locale: str) -> Category:
        return many([(text, locale)])[0]

    return classify


def _routing_many(
    holder: ModelHolder, fallback: Callable[[str, str], Category]
) -> Callable[[list[tuple[str, str]]], list[Category]]:
    """The routing classifier for a batch of (text, locale), as a cascade: the model's cheap head
    (word and character n-grams, ~0.1 ms a text) decides when it is sure; only the rest pay for the
    sentence encoder (~2.5 ms a text), all of them in one batch. Intake classifies the items of a
    group commit together."""

    def classify_many(items: list[tuple[str, str]]) -> list[Category]:
        out: list[Category | None] = [None] * len(items)
        todo = []
        for i, (text, _locale) in enumerate(items):
            if mentions_complaint(text):  # complaint words: always a complaint
                out[i] = Category.COMPLAINT
            else:
                todo.append(i)
        if todo:
            try:
                model = holder.get()
                texts = [items[i][0][:ROUTING_CHARS] for i in todo]
                screen = model.screen_proba(texts)
                unsure = list(range(len(todo)))
                if screen is not None:
                    cats, sure = _categories_of(model, screen)
                    unsure = []
                    for k in range(len(todo)):
                        if cats and sure[k] >= SCREEN_THRESHOLD:
                            out[todo[k]] = cats[k]
                        else:
                            unsure.append(k)
                if unsure:
                    cats, sure = _categories_of(model, model.proba([texts[k] for k in unsure]))
                    for k, category, confidence in zip(unsure, cats, sure, strict=False):
                        if confidence >= CATEGORY_THRESHOLD:
                            out[todo[k]] = category
            except Exception:  # routing must never fail a ticket: the keywords still work
                log.exception("intent model failed; using keyword routing")
        return [c if c is not None else fallback(*items[i]) for i, c in enumerate(out)]

    return classify_many


def predict_category(model: IntentModel, text: str) -> tuple[Category | None, float]:
    """The most likely routing category and its confidence: sub-intent probabilities are summed
    per category, so three unsure transaction sub-intents still make a sure "transactions"."""
    return _category_from(model, model.proba([text])[0])


def _category_from(model: IntentModel, proba: Any) -> tuple[Category | None, float]:
    """The most likely category of one message (its sub-intents' probabilities summed), and
    that probability; (None, 0.0) when no label of the model names a category."""
    cats, totals = _categories_of(model, proba[None, :])
    return cats[0] if cats else None, float(totals[0]) if cats else 0.0


def _categories_of(model: IntentModel, probas: np.ndarray) -> tuple[list[Category], np.ndarray]:
    """Row by row: the most likely category and its probability (one matrix product for a
    batch). Empty when no label of the model names a category. Ties go to the category whose
    first label comes first."""
    import numpy as np

    cached = model.__dict__.get("_paydesk_categories")
    if cached is None:
        order: list[Category] = []
        pairs = []
        for i, label in enumerate(model.labels):
            cat = category_of(label)
            if cat is not None:
                if cat not in order:
                    order.append(cat)
                pairs.append((i, order.index(cat)))
        member = np.zeros((len(model.labels), len(order)))
        for i, j in pairs:
            member[i, j] = 1.0
        cached = model.__dict__["_paydesk_categories"] = (order, member)
    order, member = cached
    if not order:
        return [], probas[:, :0]
    totals = probas @ member
    best = totals.argmax(axis=1)
    return [order[j] for j in best], totals[np.arange(len(best)), best]


async def _warm_up(ctx: AppContext) -> None:
    """Server start: load (or train) the model in a daemon thread; the request path then finds
    it ready. A daemon thread, not the executor, so shutdown never waits for it."""
    holder = ctx.extras.get("intent_model")
    if isinstance(holder, ModelHolder) and not holder.loaded:
        threading.Thread(target=_quiet_get, args=(holder,), daemon=True).start()


def _quiet_get(holder: ModelHolder) -> None:
    try:
        holder.get()
    except Exception:
        log.exception("intent model warm-up failed")


# -- training and evaluation (the `paydesk intent` commands) ---------------------------------


def train_named(
    settings: Settings,
    data: LabelledData,
    name: str,
    *,
    source: str = "",
    config: TrainConfig | None = None,
    progress: TrainProgress | None = None,
) -> dict[str, Any]:
    """Train a model on validated data (dataset.read_labelled_csv) and save it atomically as
    `<data_dir>/models/<name>`. Raises ValueError for a bad name before any work is done.
    Returns a summary: model, path, examples, labels, encoders, train_seconds."""
    import dataclasses

    from paydesk.assistant.intent.model import TrainConfig, train

    path = model_dir(settings.data_dir, name)
    started = time.perf_counter()
    if name == DEFAULT_MODEL:  # the routing model: give it the cheap head intake asks first
        config = dataclasses.replace(config or TrainConfig(), screen=True)
    model = train(data, config, progress, meta={"source": source, "name": name})
    model.save(path)
    return {
        "model": name,
        "path": str(path),
        "examples": len(data),
        "labels": len(model.labels),
        "encoders": list(model.featurizer.config.encoders)
        if model.featurizer.config.embedding_weight
        else [],
        "train_seconds": round(time.perf_counter() - started, 2),
    }


def evaluate_named(settings: Settings, data: LabelledData, name: str) -> dict[str, Any]:
    """Accuracy, macro-F1 (over the labels of the data) and more of a saved model.

    Raises ValueError for a bad name and ModelFormatError when the model is missing/damaged.
    """
    from paydesk.assistant.intent.model import IntentModel

    if name == DEFAULT_MODEL:
        model = ModelHolder(settings.data_dir, name).get()
    else:
        model = IntentModel.load(model_dir(settings.data_dir, name))
    return evaluate(model, data, name)


def evaluate(model: IntentModel, data: LabelledData, name: str = "") -> dict[str, Any]:
    """Score `model` on labelled data (see evaluate_named for the keys)."""
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score

    model.predict_many(data.texts[:1])  # load the sentence encoder before timing
    started = time.perf_counter()
    pred = model.predict_many(data.texts)
    seconds = time.perf_counter() - started
    labels = [p for p, _ in pred]
    conf = np.array([c for _, c in pred])
    right = np.array([p == t for p, t in zip(labels, data.labels, strict=True)])
    known = set(model.labels)
    return {
        "model": name,
        "examples": len(data),
        "accuracy": round(float(accuracy_score(data.labels, labels)), 4),
        "macro_f1": round(
            float(f1_score(data.labels, labels, labels=data.classes, average="macro")), 4
        ),
        "mean_confidence": round(float(conf.mean()), 4),
        "expected_calibration_error": round(float(_ece(conf, right)), 4),
        "unknown_labels": sorted(set(data.labels) - known),
        "ms_per_text": round(1000 * seconds / len(data), 3),
    }


def _ece(conf: np.ndarray, right: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: |accuracy − confidence| averaged over confidence bins."""
    import numpy as np

    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            total += inside.mean() * abs(right[inside].mean() - conf[inside].mean())
    return total
