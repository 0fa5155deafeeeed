"""The TOPAY intent taxonomy: each sub-intent of the default model and the category it routes to.

A sub-intent mapped to None ("human_request", "greeting", "thanks") says nothing about the
topic: intake falls back to the keyword classifier for those. Operators who train their own model
may use these labels, a bare category name ("transactions") or "category/anything"
("transactions/chargeback") and still get routing; other labels only inform the assistant.
"""

from __future__ import annotations

from paydesk.domain.tickets import Category

A, T, TE = Category.ACCOUNT, Category.TRANSACTIONS, Category.TECHNICAL
C, S, E = Category.COMPLAINT, Category.SUGGESTION, Category.EDUCATION

SUB_INTENTS: dict[str, Category | None] = {
    # account
    "password_reset": A,
    "account_locked": A,
    "verification_code_missing": A,
    "change_contact": A,
    "kyc_pending": A,
    "registration_help": A,
    "account_compromised": A,
    "close_account": A,
    # transactions
    "refund_status": T,
    "transfer_pending": T,
    "topup_failed": T,
    "duplicate_charge": T,
    "payment_failed": T,
    "withdrawal_delay": T,
    "crypto_wrong_network": T,
    "suspected_fraud": T,
    "fee_inquiry": T,
    # technical
    "app_crash": TE,
    "app_error": TE,
    # complaints and suggestions
    "complaint": C,
    "suggestion": S,
    # education
    "scam_report": E,
    "security_advice": E,
    "how_to": E,
    # conversation: no topic
    "human_request": None,
    "greeting": None,
    "thanks": None,
}


def category_of(label: str) -> Category | None:
    """The routing category of a label, or None when the label does not imply one."""
    if label in SUB_INTENTS:
        return SUB_INTENTS[label]
    head = label.split("/", 1)[0].strip().lower()
    try:
        return Category(head)
    except ValueError:
        return None
