"""Trainable intent models: `text → (label, confidence)` for intake routing and the assistant.

- `dataset`  — read and validate `text,label` CSV files;
- `features` — word + character TF-IDF and sentence-embedding features;
- `model`    — the linear classifier with calibrated confidence, saved without pickle;
- `taxonomy` — the TOPAY sub-intents and the ticket category each routes to;
- `store`    — model directories under the data dir, the default `topay` model, lazy holder.
"""
