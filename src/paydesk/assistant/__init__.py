"""Knowledge-base search, intent models and the answer-or-handoff assistant."""
