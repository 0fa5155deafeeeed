"""Interface texts in zh-CN and en. Every customer-facing string has both.

`t(locale, key, **vars)`; a missing key falls back to English, then to the key itself (and a test
checks both catalogs have the same keys).
"""

from __future__ import annotations

from fastapi import Request

LOCALES = ("en", "zh-CN")

CATALOG: dict[str, dict[str, str]] = {
    "en": {
        "brand": "TOPAY Support",
        "lang.switch": "中文",
        "nav.home": "Contact us",
        "nav.help": "Help center",
        "nav.my_requests": "My requests",
        "nav.sign_in": "Sign in",
        "nav.sign_out": "Sign out",
        "contact.title": "How can we help?",
        "contact.intro": "Our assistant answers at any hour; our team reads every request.",
        "contact.channels": "Ways to reach us",
        "contact.chat": "Online chat — 24 hours, every day (assistant), agents 08:00–22:00",
        "contact.email": "Email — support@topay.example, answered within one business day",
        "contact.phone": "Phone — 400-800-8888 (China) / +86 21 5000 8888, 08:00–22:00",
        "contact.form": "Web form — below, any time",
        "contact.hours": "Service hours: agents 08:00–22:00 (Beijing time), every day. The assistant is always on.",
        "contact.security": "TOPAY will never ask for your password, card security code (CVV), one-time codes or wallet recovery phrase.",
        "form.title": "Submit a request",
        "form.name": "Your name",
        "form.email": "Email",
        "form.phone": "Phone (optional)",
        "form.category": "Topic",
        "form.subject": "Subject",
        "form.body": "Describe your question",
        "form.transaction_id": "Transaction ID or order number",
        "form.amount": "Amount",
        "form.transaction_date": "Date of the transaction",
        "form.device": "Device and app version",
        "form.submit": "Send",
        "form.sent": "Thank you. Your request #{number} has been received. We will reply by email; you can also sign in to follow it.",
        "form.error": "Please check the form: {message}",
        "cat.account": "Account and sign-in",
        "cat.transactions": "Payments, transfers, top-ups and refunds",
        "cat.technical": "Technical problem",
        "cat.complaint": "Complaint",
        "cat.suggestion": "Suggestion",
        "cat.education": "Security and how-to questions",
        "signin.title": "Sign in to see your requests",
        "signin.intro": "Enter the email address you used to contact us. We will email you a one-time sign-in link.",
        "signin.send": "Email me a link",
        "signin.sent": "If this address is known to us, a sign-in link is on its way. It works once and expires in 15 minutes.",
        "signin.invalid": "This sign-in link is invalid, expired or already used. Please request a new one.",
        "tickets.title": "My requests",
        "tickets.none": "You have no requests yet.",
        "tickets.reply": "Reply",
        "tickets.send": "Send reply",
        "tickets.status": "Status",
        "tickets.updated": "Last update",
        "status.new": "Received",
        "status.open": "In progress",
        "status.pending": "Waiting for your reply",
        "status.on-hold": "In progress",
        "status.solved": "Solved",
        "status.closed": "Closed",
        "author.customer": "You",
        "author.agent": "TOPAY Support",
        "author.bot": "TOPAY Assistant",
        "author.system": "TOPAY",
        "error.title": "Something is not right",
        "error.back": "Back to the start",
        "footer": "TOPAY — digital payments. Support never asks for your secrets.",
    },
    "zh-CN": {
        "brand": "TOPAY 客服中心",
        "lang.switch": "English",
        "nav.home": "联系我们",
        "nav.help": "帮助中心",
        "nav.my_requests": "我的工单",
        "nav.sign_in": "登录",
        "nav.sign_out": "退出",
        "contact.title": "我们能为您做什么？",
        "contact.intro": "智能助手全天候为您解答；每一条请求都有专人处理。",
        "contact.channels": "联系方式",
        "contact.chat": "在线客服 — 全天 24 小时（智能助手），人工 08:00–22:00",
        "contact.email": "电子邮件 — support@topay.example，一个工作日内回复",
        "contact.phone": "客服电话 — 400-800-8888（中国大陆）/ +86 21 5000 8888，08:00–22:00",
        "contact.form": "在线表单 — 见下方，随时提交",
        "contact.hours": "服务时间：人工客服每天 08:00–22:00（北京时间）；智能助手全天在线。",
        "contact.security": "TOPAY 绝不会向您索要密码、卡片安全码（CVV）、验证码或钱包助记词。",
        "form.title": "提交请求",
        "form.name": "您的姓名",
        "form.email": "电子邮箱",
        "form.phone": "手机号（选填）",
        "form.category": "问题类型",
        "form.subject": "主题",
        "form.body": "请描述您的问题",
        "form.transaction_id": "交易号或订单号",
        "form.amount": "金额",
        "form.transaction_date": "交易日期",
        "form.device": "设备及 App 版本",
        "form.submit": "提交",
        "form.sent": "感谢您的反馈。您的工单 #{number} 已收到，我们会通过邮件回复；您也可以登录查看进度。",
        "form.error": "请检查表单：{message}",
        "cat.account": "账户与登录",
        "cat.transactions": "支付、转账、充值与退款",
        "cat.technical": "技术问题",
        "cat.complaint": "投诉",
        "cat.suggestion": "建议",
        "cat.education": "安全知识与使用指南",
        "signin.title": "登录查看您的工单",
        "signin.intro": "请输入您联系我们时使用的邮箱，我们将发送一次性登录链接。",
        "signin.send": "发送登录链接",
        "signin.sent": "如果该邮箱已在我们这里登记，登录链接已发出。链接仅可使用一次，15 分钟内有效。",
        "signin.invalid": "该登录链接无效、已过期或已被使用，请重新获取。",
        "tickets.title": "我的工单",
        "tickets.none": "您还没有工单。",
        "tickets.reply": "回复",
        "tickets.send": "发送回复",
        "tickets.status": "状态",
        "tickets.updated": "最近更新",
        "status.new": "已受理",
        "status.open": "处理中",
        "status.pending": "等待您的回复",
        "status.on-hold": "处理中",
        "status.solved": "已解决",
        "status.closed": "已关闭",
        "author.customer": "您",
        "author.agent": "TOPAY 客服",
        "author.bot": "TOPAY 智能助手",
        "author.system": "TOPAY",
        "error.title": "出了点问题",
        "error.back": "返回首页",
        "footer": "TOPAY 数字支付。客服绝不会索要您的密码等机密信息。",
    },
}


def t(locale: str, key: str, **kwargs: object) -> str:
    text = CATALOG.get(locale, {}).get(key) or CATALOG["en"].get(key) or key
    return text.format(**kwargs) if kwargs else text


def negotiate(request: Request) -> str:
    """?lang= (remembered in a cookie) → cookie → Accept-Language → English."""
    lang = request.query_params.get("lang") or request.cookies.get("pd_lang")
    if lang in LOCALES:
        return lang
    header = request.headers.get("accept-language", "")
    best, best_q = "en", -1.0
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        tag = tag.strip().lower()
        loc = "zh-CN" if tag.startswith("zh") else "en" if tag.startswith("en") else None
        if loc and q > best_q:
            best, best_q = loc, q
    return best
