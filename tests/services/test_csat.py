"""CSAT surveys and NPS through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta
from email import message_from_string, policy

import pytest
from sqlalchemy import func, select, update

from paydesk.domain.errors import InvalidInput, NotFound
from paydesk.domain.tickets import Channel
from paydesk.services import chat, csat, csat_reports
from paydesk.services.tickets import update_ticket
from paydesk.store.audit import AuditEvent
from paydesk.store.base import utcnow
from paydesk.store.chat import ChatEvent
from paydesk.store.email import EmailOutbox
from paydesk.store.surveys import CsatSurvey, NpsSurvey
from tests.factories import ALICE, BOB, LI, agent, customer_actor, ticket


def _survey_mails(ctx):
    with ctx.read() as s:
        return list(
            s.scalars(
                select(EmailOutbox).where(EmailOutbox.kind == "survey").order_by(EmailOutbox.id)
            )
        )


def _link(mime: str, path: str = "/survey/") -> str:
    msg = message_from_string(mime, policy=policy.default)
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    m = re.search(re.escape(path) + r"([A-Za-z0-9_\-.]+)", text)
    assert m, text
    return m.group(1)


def _surveys(ctx, ticket_id=None):
    with ctx.read() as s:
        stmt = select(CsatSurvey).order_by(CsatSurvey.id)
        if ticket_id:
            stmt = stmt.where(CsatSurvey.ticket_id == ticket_id)
        return list(s.scalars(stmt))


def _audits(ctx, action):
    with ctx.read() as s:
        return s.scalar(select(func.count()).where(AuditEvent.action == action))


def test_solved_email_ticket_gets_a_rating_link_that_rates_once_and_can_change(ctx):
    _, wang = agent(ctx, "wang@topay.example", role="supervisor", name="Wang Fang")
    t = ticket(ctx, LI, channel=Channel.EMAIL, subject="退款未到账")
    update_ticket(ctx, wang, t.ticket_id, {"assignee_id": wang.id})
    update_ticket(ctx, wang, t.ticket_id, {"status": "solved"})
    [sv] = _surveys(ctx, t.ticket_id)
    assert (sv.round, sv.delivery, sv.locale, sv.agent_id) == (1, "email", "zh-CN", wang.id)
    [mail] = _survey_mails(ctx)
    assert mail.to_addr == LI.email and "您对我们的服务满意吗" in str(
        message_from_string(mail.mime, policy=policy.default)["subject"]
    )
    token = _link(mail.mime)
    view = csat.find_survey(ctx, token)
    assert view.answered is False and view.ticket_id == t.ticket_id
    assert _audits(ctx, "csat.invited") == 1

    v = csat.rate(ctx, token, rating="good")
    assert (v.rating, v.answered) == ("good", True)
    csat.rate(ctx, token, rating="good")  # same answer again: idempotent, no new audit row
    assert _audits(ctx, "csat.rated") == 1 and _audits(ctx, "csat.rating_changed") == 0
    # changeable until expiry; the comment goes through the redactor before storage
    v = csat.rate(ctx, token, rating="bad", comment="my card 4111 1111 1111 1111 was charged")
    assert v.rating == "bad" and "4111 1111 1111 1111" not in v.comment
    [sv] = _surveys(ctx, t.ticket_id)
    assert "4111 1111 1111 1111" not in (sv.comment or "") and sv.rating == "bad"
    assert _audits(ctx, "csat.rating_changed") == 1

    with pytest.raises(InvalidInput):
        csat.rate(ctx, token, rating="excellent")
    with pytest.raises(NotFound):
        csat.rate(ctx, token[:-3] + "abc", rating="good")  # forged
    with pytest.raises(NotFound):
        csat.find_nps(ctx, token)  # a CSAT token is not an NPS token (other salt)
    with ctx.uow() as uow:
        uow.session.execute(update(CsatSurvey).values(expires_at=utcnow() - timedelta(minutes=1)))
    with pytest.raises(csat.SurveyExpired):
        csat.rate(ctx, token, rating="good")
    assert csat.find_survey(ctx, token).rating == "bad"  # the page still opens, read-only


def test_reopen_and_resolve_gives_a_new_survey_and_customers_are_not_flooded(ctx):
    ctx.settings.csat_customer_limit = 2
    _, sup = agent(ctx, "sup@topay.example", role="supervisor")
    t1 = ticket(ctx, ALICE, channel=Channel.EMAIL, subject="one")
    update_ticket(ctx, sup, t1.ticket_id, {"status": "solved"})
    update_ticket(ctx, sup, t1.ticket_id, {"status": "open"})
    update_ticket(ctx, sup, t1.ticket_id, {"status": "solved"})
    rounds = [(s.round, s.delivery) for s in _surveys(ctx, t1.ticket_id)]
    assert rounds == [(1, "email"), (2, "email")]
    # a third resolution for the same customer inside the window: offered on the portal only
    t2 = ticket(ctx, ALICE, channel=Channel.EMAIL, subject="two")
    update_ticket(ctx, sup, t2.ticket_id, {"status": "solved"})
    assert [s.delivery for s in _surveys(ctx, t2.ticket_id)] == ["portal"]
    assert len(_survey_mails(ctx)) == 2
    # other customers are not affected
    t3 = ticket(ctx, BOB, channel=Channel.EMAIL, subject="three")
    update_ticket(ctx, sup, t3.ticket_id, {"status": "solved"})
    assert [s.delivery for s in _surveys(ctx, t3.ticket_id)] == ["email"]
    # other changes than "→ solved" never create a survey
    update_ticket(ctx, sup, t3.ticket_id, {"priority": "high"})
    update_ticket(ctx, sup, t3.ticket_id, {"status": "closed"})
    assert len(_surveys(ctx, t3.ticket_id)) == 1


def test_open_chat_gets_a_rating_prompt_in_the_widget(ctx):
    _, sup = agent(ctx, "sup@topay.example", role="supervisor")
    sess, _tok = chat.start_chat(
        ctx, name="Alice", email="alice@example.com", phone=None, topic="general", locale="en"
    )
    res = chat.send_visitor_message(ctx, sess, "c1", "Where is my top-up?")
    assert res.ticket_id
    update_ticket(ctx, sup, res.ticket_id, {"status": "solved"})
    [sv] = _surveys(ctx, res.ticket_id)
    assert sv.delivery == "chat"
    with ctx.read() as s:
        ev = s.scalars(
            select(ChatEvent).where(ChatEvent.session_id == sess.id).order_by(ChatEvent.seq.desc())
        ).first()
    assert ev is not None and ev.type == "message" and ev.author_type == "system"
    url = ev.data["survey_url"]
    assert url.startswith("http://testserver/survey/") and url in ev.data["body"]
    assert csat.rate(ctx, url.rsplit("/", 1)[1], rating="good").rating == "good"
    assert _survey_mails(ctx) == []


def test_portal_rating_for_own_ticket_only(ctx):
    _, sup = agent(ctx, "sup@topay.example", role="supervisor")
    t = ticket(ctx, ALICE, channel=Channel.WEB)
    other = ticket(ctx, BOB, channel=Channel.WEB)
    update_ticket(ctx, sup, t.ticket_id, {"status": "solved"})
    alice = customer_actor(ctx, t.customer_id)
    bob = customer_actor(ctx, other.customer_id)
    view = csat.portal_survey(ctx, alice, t.ticket_id)
    assert view is not None and view.answered is False
    with pytest.raises(NotFound):
        csat.portal_survey(ctx, bob, t.ticket_id)
    with pytest.raises(NotFound):
        csat.rate_from_portal(ctx, bob, t.ticket_id, rating="bad")
    with pytest.raises(NotFound):  # nothing to rate on an unsolved ticket
        csat.rate_from_portal(ctx, bob, other.ticket_id, rating="bad")
    v = csat.rate_from_portal(ctx, alice, t.ticket_id, rating="good", comment="thanks!")
    assert (v.rating, v.comment) == ("good", "thanks!")
    rows = csat.ticket_ratings(ctx, sup, t.ticket_id)
    assert rows[0]["rating"] == "good" and rows[0]["comment"] == "thanks!"


def test_five_point_scale(ctx):
    ctx.settings.csat_scale = "five"
    _, sup = agent(ctx, "sup@topay.example", role="supervisor")
    t = ticket(ctx, ALICE, channel=Channel.EMAIL)
    update_ticket(ctx, sup, t.ticket_id, {"status": "solved"})
    [mail] = _survey_mails(ctx)
    token = _link(mail.mime)
    assert (
        "?score=5"
        in message_from_string(mail.mime, policy=policy.default).get_body(("html",)).get_content()
    )  # type: ignore[union-attr]
    assert csat.rate(ctx, token, rating=None, score="4").rating == "good"
    v = csat.rate(ctx, token, rating=None, score=2)
    assert (v.rating, v.score) == ("bad", 2)
    with pytest.raises(InvalidInput):
        csat.rate(ctx, token, rating=None, score="9")


def test_report_numbers_and_roles(ctx):
    _, sup = agent(ctx, "sup@topay.example", role="supervisor", name="Sun Li")
    _, ag = agent(ctx, "ag@topay.example", role="agent", name="Tom")
    _, aud = agent(ctx, "aud@topay.example", role="auditor", name="Grace")
    ctx.settings.csat_customer_limit = 10
    answers = ["good", "good", "bad", None]
    for i, ans in enumerate(answers):
        t = ticket(ctx, ALICE, channel=Channel.EMAIL, subject=f"t{i}")
        update_ticket(ctx, sup, t.ticket_id, {"assignee_id": sup.id, "status": "solved"})
        if ans:
            csat.rate(ctx, _link(_survey_mails(ctx)[-1].mime), rating=ans, comment=f"<b>c{i}</b>")
    r = csat_reports.csat_report(ctx, sup, 7)
    assert r["totals"] == {
        "sent": 4,
        "rated": 3,
        "good": 2,
        "bad": 1,
        "csat_pct": 66.7,
        "response_rate_pct": 75.0,
    }
    assert r["by_agent"][0]["name"] == "Sun Li" and r["by_agent"][0]["rated"] == 3
    assert r["by_channel"][0]["name"] == "email"
    assert [c["comment"] for c in r["recent_comments"]][0] == "<b>c2</b>"
    assert csat_reports.csat_report(ctx, aud, 30)["totals"]["rated"] == 3
    with pytest.raises(NotFound):
        csat_reports.csat_report(ctx, ag, 7)
    with pytest.raises(InvalidInput):
        csat_reports.csat_report(ctx, sup, 90)
    # outside the period
    later = utcnow() + timedelta(days=8)
    assert csat_reports.csat_report(ctx, sup, 7, now=later)["totals"]["sent"] == 0


def test_nps_invitations_answers_and_score(ctx):
    _, sup = agent(ctx, "sup@topay.example", role="supervisor")
    for who in (ALICE, BOB, LI):
        t = ticket(ctx, who, channel=Channel.EMAIL)
        update_ticket(ctx, sup, t.ticket_id, {"status": "solved"})
    assert csat.send_nps_invitations(ctx) == 3
    assert csat.send_nps_invitations(ctx) == 0  # asked at most once per interval
    with ctx.read() as s:
        mails = list(s.scalars(select(EmailOutbox).where(EmailOutbox.kind == "nps")))
    tokens = {m.to_addr: _link(m.mime, "/nps/") for m in mails}
    assert csat.answer_nps(ctx, tokens[ALICE.email], score="10", comment=None).score == 10
    csat.answer_nps(ctx, tokens[BOB.email], score=3, comment="too slow")
    csat.answer_nps(ctx, tokens[BOB.email], score=3, comment="too slow")  # idempotent
    assert csat.answer_nps(ctx, tokens[LI.email], score=8, comment="").score == 8
    with pytest.raises(InvalidInput):
        csat.answer_nps(ctx, tokens[LI.email], score="11", comment="")
    with pytest.raises(NotFound):
        csat.find_survey(ctx, tokens[LI.email])  # an NPS token opens no CSAT survey
    nps = csat_reports.csat_report(ctx, sup, 30)["nps"]
    assert nps == {
        "asked": 3,
        "responses": 3,
        "promoters": 1,
        "passives": 1,
        "detractors": 1,
        "score": 0.0,
    }
    assert _audits(ctx, "nps.answered") == 3
    with ctx.read() as s:
        assert s.scalar(select(func.count()).select_from(NpsSurvey)) == 3


def test_cli_nps_send_and_report(ctx, monkeypatch):
    import json

    from typer.testing import CliRunner

    from paydesk.cli.csat import app
    from paydesk.settings import get_settings

    _, sup = agent(ctx, "sup@topay.example", role="supervisor")
    t = ticket(ctx, ALICE, channel=Channel.EMAIL)
    update_ticket(ctx, sup, t.ticket_id, {"status": "solved"})
    st = ctx.settings
    monkeypatch.setenv("PAYDESK_DATABASE_URL", st.database_url)
    monkeypatch.setenv("PAYDESK_DATA_DIR", str(st.data_dir))
    monkeypatch.setenv("PAYDESK_SECRET_KEY", st.secret_key)
    get_settings.cache_clear()
    try:
        first = CliRunner().invoke(app, ["nps-send"])
        again = CliRunner().invoke(app, ["nps-send"])
        rep = CliRunner().invoke(app, ["report", "--days", "30"])
        bad = CliRunner().invoke(app, ["report", "--days", "5"])
    finally:
        get_settings.cache_clear()
    assert first.exit_code == 0, (first.output, first.exception)
    assert json.loads(first.stdout.strip().splitlines()[-1]) == {"sent": 1}
    assert json.loads(again.stdout.strip().splitlines()[-1]) == {"sent": 0}
    report = json.loads(rep.stdout.strip().splitlines()[-1])
    assert report["totals"]["sent"] == 1 and report["nps"]["asked"] == 1
    assert bad.exit_code == 2 and "days must be 7 or 30" in bad.output
