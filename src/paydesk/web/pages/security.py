"""Staff account security page (/agent/security): TOTP two-factor enrollment and removal, and
single-use recovery codes (shown once, regenerated on demand). Page text in en and zh-CN."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from paydesk.domain.errors import DomainError
from paydesk.services import auth
from paydesk.services.auth import SessionInfo
from paydesk.web import csrf
from paydesk.web.deps import Ctx
from paydesk.web.i18n import negotiate
from paydesk.web.sessions import staff_session
from paydesk.web.templating import render

router = APIRouter(prefix="/agent/security", include_in_schema=False)

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Account security",
        "totp": "Two-factor sign-in (authenticator app)",
        "on": "Two-factor sign-in is on. Every sign-in asks for a code from your authenticator "
        "app.",
        "off": "Two-factor sign-in is off. Turn it on: a stolen password alone will then not open "
        "your account.",
        "setup": "Set up an authenticator app",
        "step1": "Open your authenticator app (Google Authenticator, Microsoft Authenticator, "
        "1Password…) and add an account.",
        "step2": "Enter this key (time-based, 6 digits), or open this otpauth link on the phone:",
        "step3": "Type the code the app shows.",
        "code": "Code",
        "code_or_recovery": "Current code or a recovery code",
        "password": "Password",
        "turn_on": "Turn on two-factor sign-in",
        "turn_off": "Turn off two-factor sign-in",
        "recovery": "Recovery codes",
        "recovery_left": "Unused recovery codes: {n} of 10.",
        "recovery_help": "If you lose your phone, sign in with one of these codes instead of an "
        "authenticator code. Each code works once.",
        "recovery_once": "Save these recovery codes now (print them or keep them in a password "
        "manager). They are shown only this once; we keep only a fingerprint of each.",
        "regenerate": "Make new recovery codes (the old ones stop working)",
        "enabled": "Two-factor sign-in is on.",
        "disabled": "Two-factor sign-in is off.",
        "regenerated": "New recovery codes are ready; the old ones no longer work.",
    },
    "zh-CN": {
        "title": "账户安全",
        "totp": "两步验证（身份验证器应用）",
        "on": "两步验证已开启。每次登录都需要输入身份验证器应用中的验证码。",
        "off": "两步验证未开启。开启后，即使密码被盗，他人也无法登录您的账户。",
        "setup": "设置身份验证器应用",
        "step1": "打开身份验证器应用（Google Authenticator、Microsoft Authenticator、1Password 等）"
        "并添加账户。",
        "step2": "输入以下密钥（基于时间，6 位数字），或在手机上打开此 otpauth 链接：",
        "step3": "输入应用中显示的验证码。",
        "code": "验证码",
        "code_or_recovery": "当前验证码或一个恢复码",
        "password": "密码",
        "turn_on": "开启两步验证",
        "turn_off": "关闭两步验证",
        "recovery": "恢复码",
        "recovery_left": "未使用的恢复码：{n} / 10。",
        "recovery_help": "如果手机丢失，可以用其中一个恢复码代替身份验证器验证码登录。"
        "每个恢复码只能使用一次。",
        "recovery_once": "请立即保存这些恢复码（打印出来或存入密码管理器）。它们只显示这一次；"
        "我们只保存每个恢复码的指纹。",
        "regenerate": "生成新的恢复码（旧恢复码将失效）",
        "enabled": "两步验证已开启。",
        "disabled": "两步验证已关闭。",
        "regenerated": "新的恢复码已生成，旧恢复码已失效。",
    },
}


def _signed_in(request: Request, ctx: Ctx) -> SessionInfo | None:
    info = staff_session(request, ctx)
    if info is not None:
        csrf.prepare(request, info)
    return info


def _page(
    request: Request, ctx: Ctx, info: SessionInfo, status: int = 200, **kw: object
) -> Response:
    locale = negotiate(request)
    resp = render(
        request,
        "security/account.html",
        status_code=status,
        locale=locale,
        tx=TEXT[locale],
        me=info.actor,
        enabled=auth.totp_enabled(ctx, info.actor),
        recovery_left=auth.recovery_codes_left(ctx, info.actor),
        **kw,
    )
    resp.headers["cache-control"] = "no-store"  # may carry a new secret or recovery codes
    return resp


def _notice(request: Request, key: str) -> str:
    return TEXT[negotiate(request)][key]


@router.get("")
def security_page(request: Request, ctx: Ctx) -> Response:
    info = _signed_in(request, ctx)
    if info is None:
        return RedirectResponse("/agent/login?next=/agent/security", status_code=303)
    return _page(request, ctx, info)


@router.post("/totp/begin")
def totp_begin(
    request: Request, ctx: Ctx, csrf_token: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    info = _signed_in(request, ctx)
    if info is None:
        return RedirectResponse("/agent/login", status_code=303)
    csrf.check(request, info, csrf_token)
    secret, uri = auth.begin_totp(ctx, info.actor)
    return _page(request, ctx, info, secret=secret, uri=uri)


@router.post("/totp/confirm")
def totp_confirm(
    request: Request,
    ctx: Ctx,
    code: Annotated[str, Form(max_length=20)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    info = _signed_in(request, ctx)
    if info is None:
        return RedirectResponse("/agent/login", status_code=303)
    csrf.check(request, info, csrf_token)
    try:
        codes = auth.confirm_totp(ctx, info.actor, code)
    except DomainError as exc:
        return _page(request, ctx, info, status=exc.status, error=exc.message)
    return _page(request, ctx, info, notice=_notice(request, "enabled"), recovery_codes=codes)


@router.post("/totp/disable")
def totp_disable(
    request: Request,
    ctx: Ctx,
    password: Annotated[str, Form(max_length=200)],
    code: Annotated[str, Form(max_length=20)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    info = _signed_in(request, ctx)
    if info is None:
        return RedirectResponse("/agent/login", status_code=303)
    csrf.check(request, info, csrf_token)
    try:
        auth.disable_totp(ctx, info.actor, password, code)
    except DomainError as exc:
        return _page(request, ctx, info, status=exc.status, error=exc.message)
    return _page(request, ctx, info, notice=_notice(request, "disabled"))


@router.post("/recovery/regenerate")
def recovery_regenerate(
    request: Request,
    ctx: Ctx,
    code: Annotated[str, Form(max_length=20)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    info = _signed_in(request, ctx)
    if info is None:
        return RedirectResponse("/agent/login", status_code=303)
    csrf.check(request, info, csrf_token)
    try:
        codes = auth.regenerate_recovery_codes(ctx, info.actor, code)
    except DomainError as exc:
        return _page(request, ctx, info, status=exc.status, error=exc.message)
    return _page(request, ctx, info, notice=_notice(request, "regenerated"), recovery_codes=codes)
