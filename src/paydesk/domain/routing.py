"""Queue routing: which queue a new ticket lands in, and what else the rules set.

Two layers:

* `route(category, locale)` — the original category + language table (`DEFAULT_RULES`), kept as
  is: it is what a fresh workspace is seeded with, and callers that only need a slug use it.
* `RoutingRule` / `compile_rules()` / `evaluate()` — the editable rules a workspace stores
  (`store/routing.py`). A rule has conditions (every condition that is set must hold; inside one
  condition any listed value will do) and actions (queue, priority, tags, team).

Evaluation, in order over the enabled rules: each matching rule contributes its actions — the
first matching rule that sets a priority (or a team) decides it, tags add up — and the first
matching rule that names a queue decides the queue and ends the evaluation. When no rule names a
queue the workspace's default queue is used. Pure: no I/O; the caller supplies the message's
facts (tokens already computed by intake, customer tags, the intent label when a rule needs it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from paydesk.domain.errors import InvalidInput
from paydesk.domain.text import tokens as text_tokens
from paydesk.domain.tickets import Category, Channel, Priority, normalize_tags


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


# --- editable rules -------------------------------------------------------------------------

LOCALES = ("en", "zh-CN")
MAX_KEYWORDS = 50
MAX_KEYWORD_CHARS = 60
MAX_TAGS = 10
MAX_NAME_CHARS = 100
MAX_VALUE_CHARS = 60  # a customer tag or an intent label


@dataclass(frozen=True, slots=True)
class Conditions:
    """Every non-empty field must hold; within a field, any value matches."""

    categories: tuple[str, ...] = ()
    locales: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()  # the priority the channel gave (before any rule)
    customer_tags: tuple[str, ...] = ()  # the customer carries any of these tags ("vip")
    keywords: tuple[str, ...] = ()  # subject or body contains any (a phrase: all its words)
    intents: tuple[str, ...] = ()  # sub-intent labels of the intent model

    def is_empty(self) -> bool:
        return not any(getattr(self, f) for f in self.__slots__)


@dataclass(frozen=True, slots=True)
class Actions:
    queue: str | None = None  # a queue slug
    priority: str | None = None
    tags: tuple[str, ...] = ()
    team_id: int | None = None  # automatic assignment picks among this team's members

    def is_empty(self) -> bool:
        return self.queue is None and self.priority is None and not self.tags and not self.team_id


@dataclass(frozen=True, slots=True)
class RoutingRule:
    id: int | None
    name: str
    conditions: Conditions = field(default_factory=Conditions)
    actions: Actions = field(default_factory=Actions)
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules look at, for one new ticket."""

    category: str
    locale: str
    channel: str
    priority: str | None = None
    tokens: frozenset[str] = frozenset()  # intake's search tokens (jieba for Chinese)
    customer_tags: frozenset[str] = frozenset()
    intent: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    queue: str | None
    priority: str | None = None
    tags: tuple[str, ...] = ()
    team_id: int | None = None
    queue_rule_id: int | None = None  # the rule that chose the queue (None: default queue)
    matched: tuple[int, ...] = ()  # indexes (in rule order) of every rule that applied


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: RoutingRule
    index: int
    keywords: tuple[frozenset[str], ...]


@dataclass(frozen=True, slots=True)
class CompiledRules:
    """Enabled rules with keywords tokenised once; `needs_*` say which facts are worth computing."""

    rules: tuple[_Compiled, ...]
    default_queue: str | None
    needs_customer_tags: bool
    needs_intent: bool
    needs_tokens: bool


def keyword_tokens(keyword: str) -> frozenset[str]:
    """A keyword as the set of search tokens it must all find (the same tokeniser as intake)."""
    return frozenset(text_tokens(keyword))


def compile_rules(
    rules: Iterable[RoutingRule],
    default_queue: str | None,
    tokenize: Callable[[str], frozenset[str]] = keyword_tokens,
) -> CompiledRules:
    compiled = []
    for i, rule in enumerate(rules):
        if not rule.enabled:
            continue
        kws = tuple(t for t in (tokenize(k) for k in rule.conditions.keywords) if t)
        compiled.append(_Compiled(rule, i, kws))
    return CompiledRules(
        tuple(compiled),
        default_queue,
        any(c.rule.conditions.customer_tags for c in compiled),
        any(c.rule.conditions.intents for c in compiled),
        any(c.keywords for c in compiled),
    )


def _matches(c: _Compiled, facts: Facts) -> bool:
    cond = c.rule.conditions
    if cond.categories and facts.category not in cond.categories:
        return False
    if cond.locales and facts.locale not in cond.locales:
        return False
    if cond.channels and facts.channel not in cond.channels:
        return False
    if cond.priorities and (facts.priority or Priority.NORMAL.value) not in cond.priorities:
        return False
    if cond.customer_tags and not facts.customer_tags.intersection(cond.customer_tags):
        return False
    if cond.intents and facts.intent not in cond.intents:
        return False
    if cond.keywords and not any(kw <= facts.tokens for kw in c.keywords):
        return False
    return True


def evaluate(compiled: CompiledRules, facts: Facts) -> Decision:
    """Apply the rules to one ticket (see the module docstring for the order of actions)."""
    priority: str | None = None
    team: int | None = None
    tags: list[str] = []
    matched: list[int] = []
    for c in compiled.rules:
        if not _matches(c, facts):
            continue
        act = c.rule.actions
        matched.append(c.index)
        priority = priority or act.priority
        team = team or act.team_id
        tags.extend(t for t in act.tags if t not in tags)
        if act.queue is not None:
            return Decision(act.queue, priority, tuple(tags), team, c.rule.id, tuple(matched))
    return Decision(compiled.default_queue, priority, tuple(tags), team, None, tuple(matched))


def default_routing_rules(rules: tuple[RouteRule, ...] = DEFAULT_RULES) -> list[RoutingRule]:
    """`DEFAULT_RULES` as editable rules (what a new workspace is seeded with)."""
    out = []
    for r in rules:
        parts = [r.category.value if r.category else "", r.locale or ""]
        name = " / ".join(p for p in parts if p) or "everything else"
        out.append(
            RoutingRule(
                None,
                name,
                Conditions(
                    categories=(r.category.value,) if r.category else (),
                    locales=(r.locale,) if r.locale else (),
                ),
                Actions(queue=r.queue),
            )
        )
    return out


# --- validation and (de)serialisation ---------------------------------------------------------


def _strings(value: Any, field_name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.replace("，", ",").split(",")
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{field_name} must be a list of strings", field=field_name)
    out: list[str] = []
    for v in value:
        s = " ".join(v.split())
        if s and s not in out:
            out.append(s)
    return out


def _choices(value: Any, field_name: str, allowed: Iterable[str]) -> tuple[str, ...]:
    allowed = tuple(allowed)
    out = _strings(value, field_name)
    for v in out:
        if v not in allowed:
            raise InvalidInput(
                f"unknown {field_name.rstrip('s')} {v!r} (one of: {', '.join(allowed)})",
                field=field_name,
            )
    return tuple(out)


def _bounded(value: Any, field_name: str, limit: int, max_chars: int) -> tuple[str, ...]:
    out = _strings(value, field_name)
    if len(out) > limit:
        raise InvalidInput(f"at most {limit} {field_name}", field=field_name)
    for v in out:
        if len(v) > max_chars:
            raise InvalidInput(
                f"{v[:20]!r}… is longer than {max_chars} characters", field=field_name
            )
    return tuple(out)


def parse_conditions(data: Mapping[str, Any]) -> Conditions:
    """Validated conditions from plain data (form or JSON); raises InvalidInput with the field."""
    unknown = set(data) - set(Conditions.__slots__)
    if unknown:
        raise InvalidInput(f"unknown condition {sorted(unknown)[0]!r}", field="conditions")
    keywords = _bounded(data.get("keywords"), "keywords", MAX_KEYWORDS, MAX_KEYWORD_CHARS)
    for k in keywords:
        if not keyword_tokens(k):
            raise InvalidInput(f"keyword {k!r} has no letters or digits", field="keywords")
    return Conditions(
        categories=_choices(data.get("categories"), "categories", (c.value for c in Category)),
        locales=_choices(data.get("locales"), "locales", LOCALES),
        channels=_choices(data.get("channels"), "channels", (c.value for c in Channel)),
        priorities=_choices(data.get("priorities"), "priorities", (p.value for p in Priority)),
        customer_tags=tuple(
            normalize_tags(list(_bounded(data.get("customer_tags"), "customer_tags", 20, 40)))
        ),
        keywords=tuple(k.lower() for k in keywords),
        intents=_bounded(data.get("intents"), "intents", 50, MAX_VALUE_CHARS),
    )


def parse_actions(data: Mapping[str, Any]) -> Actions:
    """Validated actions (the queue slug and team id are checked against the workspace by the
    service); at least one action is required."""
    unknown = set(data) - set(Actions.__slots__)
    if unknown:
        raise InvalidInput(f"unknown action {sorted(unknown)[0]!r}", field="actions")
    queue = data.get("queue") or None
    if queue is not None and not isinstance(queue, str):
        raise InvalidInput("queue must be a queue id (slug)", field="queue")
    priority = data.get("priority") or None
    if priority is not None and priority not in {p.value for p in Priority}:
        raise InvalidInput(f"unknown priority {priority!r}", field="priority")
    team = data.get("team_id") or None
    if team is not None and (isinstance(team, bool) or not isinstance(team, int) or team < 1):
        raise InvalidInput("team must be a team id", field="team_id")
    tags = normalize_tags(list(_bounded(data.get("tags"), "tags", MAX_TAGS, 40)))
    acts = Actions(queue.strip().lower() if queue else None, priority, tuple(tags), team)
    if acts.is_empty():
        raise InvalidInput(
            "a rule needs at least one action (queue, priority, tags or team)", field="queue"
        )
    return acts


def clean_rule_name(name: Any) -> str:
    if not isinstance(name, str):
        raise InvalidInput("name must be text", field="name")
    out = " ".join("".join(ch for ch in name if ch.isprintable()).split())
    if not out:
        raise InvalidInput("a rule needs a name", field="name")
    if len(out) > MAX_NAME_CHARS:
        raise InvalidInput(f"the name is at most {MAX_NAME_CHARS} characters", field="name")
    return out


def conditions_dict(c: Conditions) -> dict[str, list[str]]:
    return {f: list(getattr(c, f)) for f in Conditions.__slots__ if getattr(c, f)}


def actions_dict(a: Actions) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if a.queue:
        out["queue"] = a.queue
    if a.priority:
        out["priority"] = a.priority
    if a.tags:
        out["tags"] = list(a.tags)
    if a.team_id:
        out["team_id"] = a.team_id
    return out
