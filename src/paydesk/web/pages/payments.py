"""Payments pages: the ticket sidebar panel, the supervisors' refund queue, the console script
and the portal's self-service account page (/portal/account)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from paydesk.domain.errors import DomainError
from paydesk.domain.permissions import Perm
from paydesk.payments.money import format_amount
from paydesk.payments.port import PlatformUnavailable
from paydesk.services import payments as pay
from paydesk.services import refunds
from paydesk.services import verification as verif
from paydesk.services.actors import Actor
from paydesk.services.context import AppContext
from paydesk.store.base import utcnow
from paydesk.web import csrf
from paydesk.web.deps import Ctx
from paydesk.web.i18n import negotiate
from paydesk.web.sessions import require_customer, require_staff
from paydesk.web.templating import env, render

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "My account and refunds",
        "verify_intro": "To show your transactions we first confirm it is you: we send a one-time "
        "code to the email or phone registered with TOPAY.",
        "code_sent": "We sent a code to {to}. It is valid for 10 minutes.",
        "code": "Code",
        "confirm": "Confirm",
        "channel": "Send the code",
        "by_email": "by email",
        "by_sms": "by SMS",
        "send_code": "Send code",
        "unavailable": "Live transaction data is temporarily unavailable; please try again later.",
        "refunds": "Your refunds",
        "no_refunds": "You have no refund requests.",
        "recent": "Recent transactions",
        "no_transactions": "No transactions found.",
        "transaction": "Transaction",
        "amount": "Amount",
        "status": "Status",
        "updated": "Updated",
        "date": "Date",
        "kind_payment": "Payment",
        "kind_transfer": "Transfer",
        "kind_top_up": "Top-up",
        "kind_refund": "Refund",
        "kind_withdrawal": "Withdrawal",
        "kind_crypto_send": "Crypto send",
        "st_pending": "Pending",
        "st_succeeded": "Completed",
        "st_failed": "Failed",
        "st_reversed": "Reversed",
        "pr_pending": "refund pending",
        "pr_processing": "refund in progress",
        "pr_succeeded": "refunded",
        "pr_failed": "refund failed",
        "verified": "Thank you — you are verified.",
        "verify_title": "Confirm it's you",
        "verify_lead": "Type the code we sent you. Never read it out to anyone, not even to "
        "TOPAY staff.",
        "verified_back": "Thank you — you are verified. You can return to your conversation "
        "with TOPAY support.",
    },
    "zh-CN": {
        "title": "我的账户与退款",
        "verify_intro": "为保护您的账户，查看交易前需确认是您本人："
        "我们会向您在 TOPAY 登记的邮箱或手机发送一次性验证码。",
        "code_sent": "验证码已发送至 {to}，10 分钟内有效。",
        "code": "验证码",
        "confirm": "确认",
        "channel": "发送方式",
        "by_email": "邮件",
        "by_sms": "短信",
        "send_code": "发送验证码",
        "unavailable": "交易数据暂时无法获取，请稍后再试。",
        "refunds": "我的退款",
        "no_refunds": "暂无退款申请。",
        "recent": "最近交易",
        "no_transactions": "暂无交易记录。",
        "transaction": "交易号",
        "amount": "金额",
        "status": "状态",
        "updated": "更新时间",
        "date": "日期",
        "kind_payment": "消费",
        "kind_transfer": "转账",
        "kind_top_up": "充值",
        "kind_refund": "退款",
        "kind_withdrawal": "提现",
        "kind_crypto_send": "加密货币转出",
        "st_pending": "处理中",
        "st_succeeded": "已完成",
        "st_failed": "失败",
        "st_reversed": "已冲正",
        "pr_pending": "退款待处理",
        "pr_processing": "退款处理中",
        "pr_succeeded": "已退款",
        "pr_failed": "退款失败",
        "verified": "验证成功。",
        "verify_title": "确认是您本人",
        "verify_lead": "请输入我们发送给您的验证码。切勿将验证码告诉任何人，包括 TOPAY 工作人员。",
        "verified_back": "验证成功，您可以回到与 TOPAY 客服的对话。",
    },
}


def tx(locale: str, key: str, **kw: Any) -> str:
    text = TEXTS.get(locale, TEXTS["en"]).get(key) or TEXTS["en"].get(key, key)
    return text.format(**kw) if kw else text


# console ----------------------------------------------------------------------------------


def ticket_panel(ctx: AppContext, actor: Actor, t: dict[str, Any]) -> Markup | None:
    """Sidebar panel: account status, latest transactions, links, verification, actions.
    Never breaks the ticket page: an unexpected failure becomes a one-line notice."""
    try:
        ov = pay.account_overview(ctx, actor, t["id"])
    except Exception:  # noqa: BLE001 - the rest of the ticket page must still render
        log.exception("payments panel failed for ticket %s", t.get("id"))
        return Markup(
            '<section class="payments-panel" id="payments-panel"><h2>Account</h2>'
            '<p class="alert" role="alert">Account data could not be loaded.</p></section>'
        )
    balances = []
    if ov.account:
        for cur, minor in sorted(ov.account.balances.items()):
            try:
                balances.append((cur, format_amount(minor, cur)))
            except DomainError:
                balances.append((cur, str(minor)))
    html = env.get_template("payments/panel.html").render(
        t=t,
        ov=ov,
        me=actor,
        balances=balances,
        platform_name=pay.platform(ctx).name,
        can_write=actor.can(Perm.TICKET_WRITE),
        can_approve=actor.can(Perm.REFUND_APPROVE),
        purposes=[p for p in verif.PURPOSES if p != "freeze"],
        mask=pay.mask,
        fmt=format_amount,
        now=utcnow(),
    )
    return Markup(html)


CONSOLE_JS = r"""
(function () {
  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]'); return m ? m.content : '';
  }
  document.addEventListener('submit', function (ev) {
    var form = ev.target;
    if (!form.classList || !form.classList.contains('pd-api')) return;
    ev.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    var method = form.dataset.method || 'POST', url = form.dataset.url, body = {};
    new FormData(form).forEach(function (v, k) { if (v !== '') body[k] = v; });
    var opts = { method: method, headers: { 'X-CSRF-Token': csrf(), 'Accept': 'application/json' },
                 credentials: 'same-origin' };
    if (method === 'GET') { url += '?' + new URLSearchParams(body).toString(); }
    else { opts.headers['Content-Type'] = 'application/json'; opts.body = JSON.stringify(body); }
    var err = form.querySelector('.err'); if (err) err.textContent = '';
    fetch(url, opts).then(function (r) {
      return r.text().then(function (t) {
        var j = {}; try { j = JSON.parse(t || '{}'); } catch (e) {}
        if (!r.ok) { throw new Error((j.error && j.error.message) || ('HTTP ' + r.status)); }
        if (form.dataset.show) {
          var out = form.querySelector('.result');
          out.textContent = j.id + ' · ' + j.kind + ' · ' + j.amount + ' ' + j.currency +
            ' · ' + j.status + (j.network ? ' · ' + j.network : '') + ' · account ' + j.account_id;
        } else { window.location.reload(); }
      });
    }).catch(function (e) { if (err) err.textContent = e.message; });
  });
})();
"""


@router.get("/agent/payments.js")
def console_js() -> Response:
    return Response(
        CONSOLE_JS,
        media_type="application/javascript",
        headers={"Cache-Control": "max-age=300"},
    )


@router.get("/agent/refunds")
def refund_queue(request: Request, ctx: Ctx) -> Response:
    info = require_staff(request, ctx)
    csrf.prepare(request, info)
    rows = refunds.pending_approvals(ctx, info.actor)
    stuck = refunds.stuck_requests(ctx, info.actor)
    unconfirmed = refunds.unconfirmed_requests(ctx, info.actor)
    return render(
        request,
        "payments/refunds.html",
        locale="en",
        me=info.actor,
        rows=rows,
        stuck=stuck,
        unconfirmed=unconfirmed,
        fmt=format_amount,
    )


# portal self-service ----------------------------------------------------------------------


def _portal(request: Request, ctx: AppContext, **kw: Any) -> Response:
    info = require_customer(request, ctx)
    csrf.prepare(request, info)
    locale = negotiate(request)
    cid = info.actor.id
    assert cid is not None
    verified = verif.is_verified(ctx, cid)
    data: dict[str, Any] = {"transactions": [], "refunds": [], "platform_refunds": []}
    available = True
    if verified:
        data["refunds"] = refunds.customer_refunds(ctx, cid, locale)
        try:
            acct = pay.customer_account(ctx, cid)
            if acct is not None:
                p = pay.platform(ctx)
                data["transactions"] = [
                    pay.txn_public(x) for x in p.list_transactions(acct.id, limit=20)
                ]
                data["platform_refunds"] = [
                    {**r.as_dict(), "amount": format_amount(r.amount_minor, r.currency)}
                    for r in p.list_refunds(acct.id, limit=10)
                ]
        except PlatformUnavailable:
            available = False
    return render(
        request,
        "payments/account.html",
        signed_in=True,
        verified=verified,
        available=available,
        tx=lambda key, **k: tx(locale, key, **k),
        **data,
        **kw,
    )


@router.get("/portal/account")
def account_page(request: Request, ctx: Ctx) -> Response:
    return _portal(request, ctx)


@router.post("/portal/account/verify")
def portal_verify(
    request: Request,
    ctx: Ctx,
    channel: Annotated[str, Form(max_length=10)] = "email",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    info = require_customer(request, ctx)
    csrf.check(request, info, csrf_token)
    assert info.actor.id is not None
    try:
        started = verif.start(
            ctx,
            info.actor,
            customer_id=info.actor.id,
            purpose="self_service",
            channel=channel if channel in ("email", "sms") else "email",
        )
    except DomainError as exc:
        resp = _portal(request, ctx, error=exc.message)
        resp.status_code = exc.status
        return resp
    return _portal(request, ctx, pending=started)


@router.post("/portal/account/code")
def portal_code(
    request: Request,
    ctx: Ctx,
    verification_id: Annotated[int, Form(gt=0, lt=2**31)],
    code: Annotated[str, Form(max_length=12)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    info = require_customer(request, ctx)
    csrf.check(request, info, csrf_token)
    try:
        verif.check(ctx, info.actor, verification_id, code)
    except DomainError as exc:
        resp = _portal(request, ctx, error=exc.message)
        resp.status_code = exc.status
        return resp
    return RedirectResponse("/portal/account", status_code=303)


# the link sent with every code: the customer types the code themself --------------------


@router.get("/verify/{token}")
def verify_page(request: Request, ctx: Ctx, token: str) -> Response:
    locale = negotiate(request)
    v, _ = verif.from_link(ctx, token[:80])
    csrf.prepare(request, None)
    return csrf.finish(
        request,
        render(
            request,
            "payments/verify.html",
            token=token,
            done=v.status == "verified",
            tx=lambda key, **k: tx(locale, key, **k),
        ),
    )


@router.post("/verify/{token}")
def verify_submit(
    request: Request,
    ctx: Ctx,
    token: str,
    code: Annotated[str, Form(max_length=12)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    csrf.check(request, None, csrf_token)
    locale = negotiate(request)
    v, actor = verif.from_link(ctx, token[:80])
    error, status = None, 200
    try:
        verif.check(ctx, actor, v.id, code)
    except DomainError as exc:
        error, status = exc.message, exc.status
    csrf.prepare(request, None)
    return render(
        request,
        "payments/verify.html",
        status_code=status,
        token=token,
        done=error is None,
        error=error,
        tx=lambda key, **k: tx(locale, key, **k),
    )
