"""Survey pages, the portal's rating form, the reports page and API (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

from sqlalchemy import select

from paydesk.domain.tickets import Channel
from paydesk.services import auth, csat
from paydesk.services.tickets import update_ticket
from paydesk.store.email import EmailOutbox
from tests.factories import ALICE, BOB, LI, agent, ticket
from tests.web.test_console_portal import _csrf, login

HTML = {"Accept": "text/html"}


def _sup(ctx):
    from paydesk.store.agents import Agent

    with ctx.read() as s:
        a = s.scalar(select(Agent).where(Agent.email == "sup@topay.example"))
        if a is not None:
            return auth.agent_actor(s, a)
    return agent(ctx, "sup@topay.example", role="supervisor", name="Sun Li")[1]


def _solve(ctx, who=ALICE, channel=Channel.EMAIL, subject="Refund"):
    sup = _sup(ctx)
    t = ticket(ctx, who, channel=channel, subject=subject)
    update_ticket(ctx, sup, t.ticket_id, {"assignee_id": sup.id, "status": "solved"})
    return t


def _token(ctx, kind="survey", path="/survey/"):
    from email import message_from_string, policy

    with ctx.read() as s:
        mail = s.scalars(
            select(EmailOutbox).where(EmailOutbox.kind == kind).order_by(EmailOutbox.id.desc())
        ).first()
    text = message_from_string(mail.mime, policy=policy.default).get_body(("plain",)).get_content()
    return re.search(re.escape(path) + r"([\w\-.]+)", text).group(1)


def test_public_survey_page_bilingual_csrf_and_changeable(client, ctx):
    _solve(ctx, LI, subject="<script>alert(1)</script>")
    token = _token(ctx)
    page = client.get(f"/survey/{token}?rating=good", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    assert "您对我们的服务满意吗" in page.text and "满意" in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert" not in page.text
    assert 'value="good" id="rate-good" class="choice good chosen"' in page.text  # preselected
    en = client.get(f"/survey/{token}?lang=en")
    assert "How did we do?" in en.text
    # GET never records; POST needs the CSRF token
    assert csat.find_survey(ctx, token).answered is False
    r = client.post(f"/survey/{token}", data={"rating": "good"}, follow_redirects=False)
    assert r.status_code == 403
    csrf = _csrf(page.text)
    r = client.post(
        f"/survey/{token}", data={"rating": "good", "csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == f"/survey/{token}?saved=1"
    done = client.get(r.headers["location"])
    assert "Thank you for your feedback" in done.text or "感谢您的反馈" in done.text
    # change the answer, with a comment that holds a secret and markup
    r = client.post(
        f"/survey/{token}",
        data={
            "rating": "bad",
            "comment": "<img src=x onerror=alert(1)> my PIN is 1234 card 4111111111111111",
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    v = csat.find_survey(ctx, token)
    assert v.rating == "bad" and "4111111111111111" not in v.comment
    again = client.get(f"/survey/{token}")
    assert "&lt;img src=x" in again.text and "<img src=x" not in again.text
    # bad input: a clear 422 page, never a 500
    bad = client.post(f"/survey/{token}", data={"rating": "meh", "csrf_token": csrf}, headers=HTML)
    assert bad.status_code == 422 and "choose good or bad" in bad.text
    gone = client.get("/survey/not-a-token?lang=zh-CN", headers=HTML)
    assert gone.status_code == 404 and "此评价链接无效" in gone.text
    assert client.get("/survey/not-a-token").json()["error"]["code"] == "not_found"
    # after expiry: read-only page, and a POST is refused with a clear bilingual message
    from datetime import timedelta

    from sqlalchemy import update

    from paydesk.store.base import utcnow
    from paydesk.store.surveys import CsatSurvey

    with ctx.uow() as uow:
        uow.session.execute(update(CsatSurvey).values(expires_at=utcnow() - timedelta(hours=1)))
    closed = client.get(f"/survey/{token}?lang=en")
    assert closed.status_code == 200 and "This survey has closed" in closed.text
    assert 'name="rating"' not in closed.text
    late = client.post(
        f"/survey/{token}", data={"rating": "good", "csrf_token": csrf}, headers=HTML
    )
    assert late.status_code == 410 and "This survey has closed" in late.text
    assert csat.find_survey(ctx, token).rating == "bad"
    assert client.post("/survey/x", data={"rating": "good", "csrf_token": csrf}).status_code == 404
    assert client.get("/survey/" + "a" * 5000).status_code in (404, 414)


def test_nps_page(client, ctx):
    _solve(ctx, ALICE)
    assert csat.send_nps_invitations(ctx) == 1
    token = _token(ctx, "nps", "/nps/")
    page = client.get(f"/nps/{token}?lang=en")
    assert page.status_code == 200 and "recommend TOPAY" in page.text
    assert page.text.count('name="score"') == 11
    csrf = _csrf(page.text)
    r = client.post(f"/nps/{token}", data={"score": "11", "csrf_token": csrf})
    assert r.status_code == 422
    r = client.post(
        f"/nps/{token}", data={"score": "9", "csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    assert csat.find_nps(ctx, token).score == 9
    assert client.get(f"/survey/{token}").status_code == 404  # not a CSAT token


def test_portal_ticket_page_offers_the_rating_form(client, ctx):
    t = _solve(ctx, ALICE, channel=Channel.WEB)
    other = _solve(ctx, BOB, channel=Channel.WEB, subject="Bob's")
    raw = auth.create_session(ctx, customer_id=t.customer_id)
    client.cookies.set("pd_customer", raw)
    page = client.get(f"/portal/tickets/{t.ticket_id}")
    assert page.status_code == 200 and f'action="/portal/tickets/{t.ticket_id}/rating"' in page.text
    csrf = _csrf(page.text)
    r = client.post(
        f"/portal/tickets/{t.ticket_id}/rating",
        data={"rating": "good", "comment": "great", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "Your answer: Good" in client.get(f"/portal/tickets/{t.ticket_id}?lang=en").text
    # someone else's ticket: not found, nothing rated
    r = client.post(
        f"/portal/tickets/{other.ticket_id}/rating", data={"rating": "bad", "csrf_token": csrf}
    )
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_reports_page_roles_and_api(client, ctx):
    _solve(ctx, ALICE)
    csat.rate(ctx, _token(ctx), rating="bad", comment="<b>slow</b> answer")
    _solve(ctx, BOB)
    csat.rate(ctx, _token(ctx), rating="good")
    agent(ctx, "ag@topay.example", role="agent")
    agent(ctx, "aud@topay.example", role="auditor")
    login(client, "ag@topay.example")
    assert client.get("/agent/reports", headers=HTML).status_code == 404
    assert "/agent/reports" not in client.get("/agent").text
    login(client, "sup@topay.example")
    page = client.get("/agent/reports?days=30")
    assert page.status_code == 200
    assert 'id="csat-pct">50.0 %' in page.text and 'id="response-rate">100.0 %' in page.text
    assert "&lt;b&gt;slow&lt;/b&gt; answer" in page.text and "<b>slow</b>" not in page.text
    assert "Sun Li" in page.text
    assert client.get("/agent/reports?days=90", headers=HTML).status_code == 422
    login(client, "aud@topay.example")
    assert client.get("/agent/reports").status_code == 200
    # the rating shows on the agent ticket page
    with ctx.read() as s:
        from paydesk.store.surveys import CsatSurvey

        tid = s.scalars(select(CsatSurvey.ticket_id).where(CsatSurvey.rating == "bad")).first()
    assert "👎 bad" in client.get(f"/agent/tickets/{tid}").text
    # JSON API: supervisor token yes, agent token 404, no token 401, bad days 422
    client.cookies.clear()
    sup_token = auth.create_token(ctx, "supervisor", "reports").token
    r = client.get("/api/v1/reports/csat", headers={"Authorization": f"Bearer {sup_token}"})
    assert r.status_code == 200
    body = r.json()
    assert body["totals"]["csat_pct"] == 50.0 and body["days"] == 7
    assert body["recent_comments"][0]["comment"] == "<b>slow</b> answer"
    ag_token = auth.create_token(ctx, "agent", "x").token
    r = client.get("/api/v1/reports/csat", headers={"Authorization": f"Bearer {ag_token}"})
    assert r.status_code == 404
    assert client.get("/api/v1/reports/csat").status_code == 401
    r = client.get(
        "/api/v1/reports/csat?days=abc", headers={"Authorization": f"Bearer {sup_token}"}
    )
    assert r.status_code == 422


def test_every_customer_text_exists_in_both_languages() -> None:
    from paydesk.web.pages.survey import TEXTS

    assert set(TEXTS["en"]) == set(TEXTS["zh-CN"])
    for table in (csat.INVITE, csat.CHOICES, csat.CHAT_PROMPT, csat.NPS_INVITE, csat.NPS_BUTTON):
        assert set(table) == {"en", "zh-CN"}
