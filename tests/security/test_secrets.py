"""Secrets through the real intake: redacted before storage, warned about, never in logs or the
audit trail; agent replies asking for secrets are refused."""

from __future__ import annotations

import logging

from mnemonic import Mnemonic
from sqlalchemy import text

from tests.security.helpers import new_ticket

PHRASE = Mnemonic("english").to_mnemonic(bytes(range(100, 116)))
SECRETS = {
    "card": "4111 1111 1111 1111",
    "cvv": "737",
    "password": "Tp@ss2024!x",
    "otp": "839201",
    "seed": PHRASE,
    "key": "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
}
BODY = (
    f"My card {SECRETS['card']} CVV {SECRETS['cvv']} was charged twice. "
    f"my password is {SECRETS['password']} and 验证码 {SECRETS['otp']}. "
    f"Recovery phrase: {SECRETS['seed']}. private key {SECRETS['key']}. "
    "Order 2026112612345678, tx hash "
    "0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060"
)


def _dump(ctx) -> str:  # type: ignore[no-untyped-def]
    parts = []
    with ctx.read() as s:
        for q in (
            "SELECT body, body_html, meta, findings FROM messages",
            "SELECT subject, search_text, fields FROM tickets",
            "SELECT action, details FROM audit_events",
        ):
            parts += [str(r) for r in s.execute(text(q)).all()]
    return "\n".join(parts)


def test_secrets_never_stored_logged_or_audited_and_customer_is_warned(api, ctx, caplog):
    caplog.set_level(logging.INFO)
    logging.getLogger("paydesk.test").warning("customer wrote: %s", BODY)
    t = new_ticket(api, BODY, subject=f"card {SECRETS['card']}")
    got = api.get(f"/api/v1/tickets/{t['id']}").json()
    first, warning = got["messages"][0], got["messages"][1]
    assert "[card •••• 1111 removed]" in first["body"]
    assert "2026112612345678" in first["body"] and "0x5c504ed432cb" in first["body"]
    kinds = {f["type"] for f in first["findings"]}
    assert {"card", "cvv", "password", "otp", "seed_phrase", "private_key"} <= kinds
    # the bilingual scam warning, in the same ticket and channel, from the system
    assert warning["author_type"] == "system" and warning["channel"] == "api"
    assert "TOPAY will never ask for your password" in warning["body"]
    assert "TOPAY 绝不会向您索要密码" in warning["body"]
    dump = _dump(ctx) + "\n" + caplog.text
    for name, secret in SECRETS.items():
        probe = secret if name != "seed" else " ".join(secret.split()[3:9])
        assert probe not in dump, f"{name} leaked"
    assert "privacy.scam_warning" in dump
    # a message without secrets gets no warning
    t2 = new_ticket(api, "Where is my refund for order 2026112612345678?")
    assert len(api.get(f"/api/v1/tickets/{t2['id']}").json()["messages"]) == 1


def test_agent_reply_asking_for_secrets_is_refused(api, ctx):
    t = new_ticket(api, "I cannot log in")
    url = f"/api/v1/tickets/{t['id']}/messages"
    for ask in (
        "To verify you, please send us your password.",
        "Please reply with the CVV on the back of your card",
        "Could you tell me the verification code you received?",
        "请提供您的助记词，我们帮您恢复钱包",
        "麻烦把短信验证码发给我们",
    ):
        r = api.post(url, json={"body": ask})
        assert r.status_code == 422, ask
        assert r.json()["error"]["code"] == "asks_for_secret"
        assert "never asks" in r.json()["error"]["message"]
    for fine in (
        "TOPAY will never ask for your password. Please reset it in the app.",
        "请不要把验证码告诉任何人，包括客服。",
        "Do not share your recovery phrase with anyone.",
        "Your refund was sent; please check your card statement.",
    ):
        assert api.post(url, json={"body": fine}).status_code == 201, fine
    # an internal note quoting a scam script is allowed (it never reaches the customer)
    r = api.post(url, json={"body": "Scammer said: send us your password", "internal": True})
    assert r.status_code == 201


def test_html_copy_and_metadata_cannot_smuggle_a_secret(ctx):
    from paydesk.domain.inbound import InboundMessage
    from paydesk.domain.tickets import Channel
    from paydesk.services import intake
    from paydesk.store.tickets import Message

    res = intake.receive(
        ctx,
        InboundMessage(
            channel=Channel.EMAIL,
            subject="card",
            body="my card 4111 1111 1111 1111",
            body_html="<p>my card <b>4111</b> 1111 1111 1111</p>",
            email="alice@example.com",
            metadata={"headers": {"X-Note": "pwd: Hunter2!!x"}},
        ),
    )
    plain = intake.receive(
        ctx,
        InboundMessage(
            channel=Channel.EMAIL,
            subject="hello",
            body="thanks",
            body_html="<p>thanks <b>a lot</b></p>",
            email="alice@example.com",
        ),
    )
    with ctx.read() as s:
        m = s.get(Message, res.message_id)
        assert m is not None and m.body_html is None and "Hunter2" not in str(m.meta)
        keep = s.get(Message, plain.message_id)
        assert keep is not None and keep.body_html and "<b>a lot</b>" in keep.body_html


def test_a_chat_thread_reference_is_stored_as_made_while_other_metadata_is_redacted(ctx):
    from paydesk.domain.inbound import InboundMessage
    from paydesk.domain.tickets import Channel
    from paydesk.services import intake
    from paydesk.store.tickets import Message

    ref = "chat:m_1dcz7pROoGgmpRxFQJdktT"  # a random chat id the password rule would take
    res = intake.receive(
        ctx,
        InboundMessage(
            channel=Channel.CHAT,
            body="hello",
            visitor_id="v_1",
            metadata={"thread_ref": ref, "chat_client_id": "c-7", "note": "pwd: Hunter2!!x"},
        ),
    )
    with ctx.read() as s:
        m = s.get(Message, res.message_id)
        assert m is not None and m.meta["thread_ref"] == ref and m.meta["chat_client_id"] == "c-7"
        assert "Hunter2" not in str(m.meta)
