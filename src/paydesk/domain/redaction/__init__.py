"""Secret redaction — the privacy stage of the intake pipeline.

`redact(text)` returns the text with every secret replaced by a visible marker such as
"[card •••• 1733 removed]" and the list of findings (type, position in the *redacted* text,
last 4 where allowed). The original is never returned alongside, so callers cannot store it.

Rules are small objects with a `find(text) -> Iterable[Span]`; see docs/subsystems/privacy.md
for the rule set. Patterns are linear-time (bounded gaps, no nested ambiguous quantifiers) so
adversarial input cannot stall intake.
"""

from __future__ import annotations

from paydesk.domain.redaction.cards import CARD_PREFIXES, CardNumberRule
from paydesk.domain.redaction.core import (
    Finding,
    Redacted,
    Redactor,
    Rule,
    Span,
    luhn_ok,
    marker,
    normalise,
)
from paydesk.domain.redaction.credentials import (
    LabelledSecretRule,
    PasswordRule,
    PasswordShapeRule,
)
from paydesk.domain.redaction.crypto import PrivateKeyRule, SeedPhraseRule
from paydesk.domain.redaction.identity import ChinaResidentIdRule, IbanRule

__all__ = [
    "CARD_PREFIXES",
    "DEFAULT_RULES",
    "CardNumberRule",
    "ChinaResidentIdRule",
    "Finding",
    "IbanRule",
    "LabelledSecretRule",
    "PasswordRule",
    "PasswordShapeRule",
    "PrivateKeyRule",
    "Redacted",
    "Redactor",
    "Rule",
    "SeedPhraseRule",
    "Span",
    "default_redactor",
    "full_rules",
    "luhn_ok",
    "marker",
    "normalise",
    "redact",
]


def full_rules() -> list[Rule]:
    """Every rule: cards, labelled secrets (card data, PIN, OTP, passwords, bank accounts),
    crypto secrets, resident IDs, IBANs."""
    return [
        CardNumberRule(),
        LabelledSecretRule(),
        PasswordShapeRule(),
        SeedPhraseRule(),
        PrivateKeyRule(),
        ChinaResidentIdRule(),
        IbanRule(),
    ]


DEFAULT_RULES: list[Rule] = full_rules()


def default_redactor() -> Redactor:
    return Redactor(DEFAULT_RULES)


def redact(text: str) -> Redacted:
    return _DEFAULT.redact(text)


_DEFAULT = default_redactor()
