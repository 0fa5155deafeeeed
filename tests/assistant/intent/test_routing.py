"""Intake routing and the assistant use the default TOPAY intent model (installed by PLUGINS)."""

from __future__ import annotations

from sqlalchemy import select

from paydesk.assistant.intent.store import ModelHolder
from paydesk.domain.classify import classify_category
from paydesk.domain.tickets import Category
from paydesk.store.tickets import Ticket
from paydesk.store.workspace import Queue
from tests import factories as f


def _queue_of(ctx, ticket_id: int) -> str:  # type: ignore[no-untyped-def]
    with ctx.read() as s:
        return str(
            s.execute(
                select(Queue.slug)
                .join(Ticket, Ticket.queue_id == Queue.id)
                .where(Ticket.id == ticket_id)
            ).scalar_one()
        )


def test_intake_routes_by_the_model(ctx):  # type: ignore[no-untyped-def]
    holder = ctx.extras["intent_model"]
    assert isinstance(holder, ModelHolder)

    mixed = f.ticket(ctx, f.LI, subject="退款", body="我的refund怎么还没到")
    assert mixed.category == Category.TRANSACTIONS
    assert _queue_of(ctx, mixed.ticket_id) == "transactions-zh"

    # where the keyword list is wrong and the model is right: "验证码" reads as an account
    # topic, but a fake agent asking for the code is a scam report (education)
    scam = "有人冒充客服要我的验证码"
    assert classify_category(scam) == Category.ACCOUNT
    assert f.ticket(ctx, f.LI, subject="", body=scam).category == Category.EDUCATION
    wrong_chain = "USDT转错链了 能找回吗"
    assert classify_category(wrong_chain) == Category.TECHNICAL
    assert f.ticket(ctx, f.BOB, subject="", body=wrong_chain).category == Category.TRANSACTIONS

    # complaint words always make a complaint (the regulatory clock), whatever the model says
    angry = f.ticket(ctx, f.ALICE, subject="Refund", body="My refund is late, I want to complain")
    assert angry.category == Category.COMPLAINT

    # "转人工" names no topic: the keyword classifier decides (its default is technical)
    assert f.ticket(ctx, f.LI, subject="", body="转人工").category == classify_category("转人工")


def test_assistant_gets_sub_intents(ctx):  # type: ignore[no-untyped-def]
    model = ctx.extras["intent_model"]
    label, confidence = model.predict("我要人工客服", "zh-CN")
    assert label == "human_request" and confidence >= 0.9
    label, confidence = model.predict("I sent USDT on the wrong network!!", "en")
    assert label == "crypto_wrong_network" and confidence >= 0.9
    # the model was cached under this context's data dir for the next process
    assert (ctx.settings.data_dir / "models" / "topay" / "meta.json").is_file()
