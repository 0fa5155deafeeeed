"""Queue routing: which queue a new ticket lands in (category + language rules)."""

from __future__ import annotations

from dataclasses import dataclass

from paydesk.domain.tickets import Category


@dataclass(frozen=True, slots=True)
class RouteRule:
    queue: str
    category: Category | None = None
    locale: str | None = None  # "zh-CN" / "en"; None = any


DEFAULT_RULES: tuple[RouteRule, ...] = (
    RouteRule("complaints", category=Category.COMPLAINT),
    RouteRule("transactions-zh", category=Category.TRANSACTIONS, locale="zh-CN"),
    RouteRule("transactions-en", category=Category.TRANSACTIONS, locale="en"),
    RouteRule("account-zh", category=Category.ACCOUNT, locale="zh-CN"),
    RouteRule("account-en", category=Category.ACCOUNT, locale="en"),
    RouteRule("technical", category=Category.TECHNICAL),
    RouteRule("general-zh", locale="zh-CN"),
    RouteRule("general-en"),
)


def route(category: Category, locale: str, rules: tuple[RouteRule, ...] = DEFAULT_RULES) -> str:
    """First matching rule wins; the last rule should be a catch-all."""
    for rule in rules:
        if rule.category is not None and rule.category != category:
            continue
        if rule.locale is not None and rule.locale != locale:
            continue
        return rule.queue
    return rules[-1].queue
