"""Privacy plug-in: the full redactor, the scam warning, the "never ask for secrets" reply check
and secret-free logs.

`install(ctx)` (listed in services/context.py PLUGINS):
- `ctx.redactor` — every rule of `domain.redaction` (cards, card data, PIN, passwords, one-time
  codes, recovery phrases, private keys, resident IDs, IBANs, bank accounts);
- `after_intake` hooks: the stored HTML copy and metadata are checked/redacted like the text;
  when a customer's message held a secret, a bilingual system message in the same ticket and
  channel warns that TOPAY never asks for such data;
- a `before_agent_message` check: a public reply that *asks* the customer for a password, card
  code, PIN, one-time code, recovery phrase or private key is refused (422 `asks_for_secret`);
- a log-record factory that redacts every log message before any handler sees it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import update

from paydesk.domain.errors import InvalidInput
from paydesk.domain.events import MessageAdded
from paydesk.domain.inbound import InboundMessage
from paydesk.domain.redaction import Redactor, default_redactor, full_rules
from paydesk.domain.tickets import AuthorType
from paydesk.services import audit
from paydesk.services.actors import system_actor
from paydesk.services.context import AppContext
from paydesk.services.uow import UnitOfWork
from paydesk.store.base import utcnow
from paydesk.store.tickets import Message

WARNING_KIND = "scam_warning"

_THINGS = {
    "en": {
        "card": "card number",
        "cvv": "card security code",
        "expiry": "card expiry date",
        "pin": "PIN",
        "password": "password",
        "otp": "one-time code",
        "seed_phrase": "recovery phrase",
        "private_key": "private key",
        "national_id": "ID number",
        "iban": "bank account number",
        "bank_account": "bank account number",
    },
    "zh-CN": {
        "card": "银行卡号",
        "cvv": "银行卡安全码",
        "expiry": "银行卡有效期",
        "pin": "PIN 密码",
        "password": "密码",
        "otp": "验证码",
        "seed_phrase": "助记词",
        "private_key": "私钥",
        "national_id": "身份证号",
        "iban": "银行账号",
        "bank_account": "银行账号",
    },
}
_WARNING = {
    "en": (
        "For your safety we removed the {things} from your message; our staff cannot see it. "
        "TOPAY will never ask for your password, card security code (CVV), PIN, one-time code "
        "or recovery phrase. Anyone who asks for them — even in TOPAY's name — is a scammer: do "
        "not share them. If you already gave them to someone, change your password now and "
        "tell us in this conversation."
    ),
    "zh-CN": (
        "为了您的安全，我们已从您的消息中删除了{things}，客服人员无法看到。"
        "TOPAY 绝不会向您索要密码、银行卡安全码（CVV）、PIN、验证码或助记词。"
        "任何索要这些信息的人（即使自称 TOPAY 客服）都是骗子，请勿提供。"
        "如果您已经告诉了别人，请立即修改密码，并在本对话中告诉我们。"
    ),
}


def warning_text(kinds: list[str], locale: str) -> str:
    """The bilingual warning, the customer's language first."""
    order = ["zh-CN", "en"] if locale == "zh-CN" else ["en", "zh-CN"]
    parts = []
    for loc in order:
        sep = "、" if loc == "zh-CN" else ", "
        names: list[str] = []
        for k in kinds:
            name = _THINGS[loc].get(k, _THINGS[loc]["password"])
            if name not in names:
                names.append(name)
        parts.append(_WARNING[loc].format(things=sep.join(names)))
    return "\n\n".join(parts)


def warn_on_secret(
    ctx: AppContext,
    uow: UnitOfWork,
    ticket: Any,
    message: Any,
    inbound: InboundMessage,
    created: bool,
) -> None:
    """after_intake hook: a customer shared a secret → system warning in the same channel."""
    kinds = [str(f.get("type")) for f in (message.findings or []) if isinstance(f, dict)]
    if not kinds or message.author_type != AuthorType.CUSTOMER.value:
        return
    s = uow.session
    warning = Message(
        ticket_id=ticket.id,
        conversation_id=message.conversation_id,
        author_type=AuthorType.SYSTEM.value,
        channel=message.channel,
        body=warning_text(sorted(set(kinds)), ticket.locale or "en"),
        internal=False,
        findings=[],
        meta={"kind": WARNING_KIND, "reply_to": message.id},
        created_at=utcnow(),
    )
    s.add(warning)
    s.flush()
    audit.record(
        s,
        system_actor(ticket.workspace_id),
        "privacy.scam_warning",
        object_type="ticket",
        object_id=ticket.id,
        customer_id=ticket.customer_id,
        details={"message_id": message.id, "kinds": sorted(set(kinds))},
    )
    bus, ticket_id, warning_id = ctx.bus, ticket.id, warning.id

    def publish() -> None:
        event = MessageAdded(ticket_id, warning_id, AuthorType.SYSTEM.value, False)
        bus.publish(f"ticket:{ticket_id}", event.payload())

    uow.on_commit(publish)


_TAG = re.compile(r"<[^<>]{0,2000}>")


def _html_text(html: str) -> str:
    import html as htmllib

    return htmllib.unescape(_TAG.sub("", html))


# metadata a channel adapter wrote itself to tie a message to its thread, not text anyone typed:
# stored as is. A random chat id is often password-shaped ("chat:m_1dcz7pROoGgmpRxFQJdktT"), and
# redacting it broke the reference (and cost an UPDATE per chat message). The chat client's
# message id ([A-Za-z0-9_.:-]{1,64}) is kept in the chat log as sent, for its acks and retries.
CHANNEL_REFERENCES = frozenset({"thread_ref", "chat_session", "chat_client_id"})


def scrub_stored_copies(
    ctx: AppContext,
    uow: UnitOfWork,
    ticket: Any,
    message: Any,
    inbound: InboundMessage,
    created: bool,
) -> None:
    """after_intake hook: the HTML copy and channel metadata must be as clean as the text.

    Intake redacts the sanitised HTML as a string, so a secret split by tags or written with
    entities ("<b>4111</b> 1111 …", "&#52;111…") would survive there: when the tag-free text of
    the HTML still holds a secret, the HTML copy is dropped (the redacted plain text remains).
    String values in the message metadata (e.g. mail headers) are redacted too."""
    changes: dict[str, Any] = {}
    html = getattr(message, "body_html", None)
    if html and ctx.redactor.redact(_html_text(html)).findings:
        changes["body_html"] = None
    meta = getattr(message, "meta", None)
    if meta:
        clean = (
            {
                k: v if k in CHANNEL_REFERENCES else _redact_tree(ctx.redactor, v)
                for k, v in meta.items()
            }
            if isinstance(meta, dict)
            else _redact_tree(ctx.redactor, meta)
        )
        if clean != meta:
            changes["meta"] = clean
    if changes:
        # hooks see snapshots of the rows intake just wrote: change them through the session
        uow.session.execute(update(Message).where(Message.id == message.id).values(**changes))


def _redact_tree(redactor: Redactor, value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return redactor.redact(value).text if len(value) >= 3 else value
    if depth > 6:
        return value
    if isinstance(value, dict):
        return {k: _redact_tree(redactor, v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_tree(redactor, v, depth + 1) for v in value]
    return value


# --- agent replies that ask for secrets ------------------------------------------------------


class AsksForSecret(InvalidInput):
    """A public reply asking the customer for a secret (the classic impersonation script)."""

    code = "asks_for_secret"


_SECRET_EN = (
    r"(?:password|passcode|pass\s?word|pin(?:\s*code)?|cvv2?|cvc2?|security\s+code|card\s+code|"
    r"(?:one[\s-]?time|verification|sms|otp|2fa|auth(?:entication)?)\s*(?:code|password)|otp|"
    r"(?:recovery|seed|secret|backup|mnemonic)\s*(?:phrase|words)|mnemonic|private\s+key|"
    r"full\s+card\s+number|card\s+number\s+and|expiry\s+date\s+and)"
)
_ASK_EN = re.compile(
    r"\b(?:send|give|tell|provide|share|forward|reply\s+with|respond\s+with|confirm|read\s+out|"
    r"type\s+(?:it\s+)?here|let\s+(?:me|us)\s+know|need|require|what\s+is|what's)\b"
    r"[^.!?\n]{0,40}?\b" + _SECRET_EN + r"(?![a-z])",
    re.IGNORECASE,
)
_SECRET_ZH = (
    r"(?:密码|密碼|验证码|驗證碼|校验码|动态码|安全码|CVV|CVC|PIN|助记词|助記詞|私钥|私鑰|"
    r"恢复短语|完整卡号|卡号和|有效期和)"
)
_ASK_ZH = re.compile(
    r"(?:提供|发送|发给|發給|发一下|告诉|告訴|告知|回复|回覆|报一下|说一下|念一下|报给|给我|给我们|需要您的|需要你的)"
    r"[^。！？!?\n]{0,20}?" + _SECRET_ZH,
    re.IGNORECASE,
)
# "把验证码发给我们": the secret first, then the verb
_ASK_ZH_AFTER = re.compile(
    _SECRET_ZH
    + r"[^。！？!?\n]{0,12}?(?:发给|發給|发送给|告诉|告訴|提供给|报给|给我|回复给|回复我们)",
    re.IGNORECASE,
)
_NEGATED = re.compile(
    r"(?:never|not|n't|no\s+one|nobody|don't|do\s+not|won't|will\s+not|should\s+not|must\s+not|"
    r"不要|不会|不會|绝不|絕不|切勿|请勿|請勿|千万别|千萬別|不能|不必|无需|無需|别|別|勿)",
    re.IGNORECASE,
)


def asks_for_secret(body: str) -> str | None:
    """The phrase that asks for a secret, or None. Warnings ("never share your password") are
    not requests: a negation just before the verb exempts the sentence."""
    for pattern in (_ASK_EN, _ASK_ZH, _ASK_ZH_AFTER):
        for m in pattern.finditer(body):
            before = body[max(0, m.start() - 30) : m.start()]
            sentence_start = max(before.rfind("."), before.rfind("。"), before.rfind("\n"))
            if _NEGATED.search(before[sentence_start + 1 :] + m.group(0)[:12]):
                continue
            return m.group(0)
    return None


def refuse_secret_requests(ctx: AppContext, body: str) -> None:
    """before_agent_message check for public replies."""
    phrase = asks_for_secret(body)
    if phrase is not None:
        raise AsksForSecret(
            "This reply asks the customer for a secret "
            f"(“{phrase[:60]}”). TOPAY never asks for passwords, card security codes, PINs, "
            "one-time codes, recovery phrases or private keys — scammers do, and customers are "
            "taught to report such messages. Rephrase it (for example, ask them to reset the "
            "password themselves or to verify in the app). / 此回复向客户索要敏感信息。TOPAY 绝不"
            "索要密码、安全码、PIN、验证码、助记词或私钥，请修改后再发送。",
            field="body",
        )


# --- logs ------------------------------------------------------------------------------------


class _RedactingFactory:
    """Wraps the log-record factory: the formatted message is redacted once, at creation."""

    def __init__(self, inner: Any, redactor: Redactor) -> None:
        self.inner = inner
        self.redactor = redactor
        self.paydesk_redacting = True

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.inner(*args, **kwargs)
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not break logging
            return record
        red = self.redactor.redact(text)
        if red.findings:
            record.msg, record.args = red.text, None
        return record


def install_log_redaction(redactor: Redactor | None = None) -> None:
    current = logging.getLogRecordFactory()
    if getattr(current, "paydesk_redacting", False):
        return
    logging.setLogRecordFactory(_RedactingFactory(current, redactor or default_redactor()))


def install(ctx: AppContext) -> None:
    ctx.redactor = Redactor(full_rules())
    if scrub_stored_copies not in ctx.after_intake:
        ctx.after_intake.insert(0, scrub_stored_copies)
    if warn_on_secret not in ctx.after_intake:
        ctx.after_intake.append(warn_on_secret)
    if refuse_secret_requests not in ctx.before_agent_message:
        ctx.before_agent_message.append(refuse_secret_requests)
    install_log_redaction(ctx.redactor)
