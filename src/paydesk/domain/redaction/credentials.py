"""Secrets recognised by their label: card security code, expiry, PIN, passwords, one-time
codes, bank account numbers and old 15-digit ID numbers.

One scan finds every label (a single alternation, so long messages cost one pass); each label
then tries its *tail* — a short bounded gap and the value — anchored right after it. Gaps are
bounded character classes, so matching stays linear in the input length whatever the text.
"""

from __future__ import annotations

import heapq
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator

from paydesk.domain.redaction.core import (
    CaselessWords,
    Span,
    char_bytes,
    lowered,
    trie_pattern,
)
from paydesk.domain.redaction.prose import ASCII_ALNUM, CJK, cjk_prose

_F = re.IGNORECASE | re.ASCII  # ASCII \b and classes: "CVV码" has a boundary before 码

# Words that follow "password is …" in ordinary complaints and are not the password.
STOPWORDS = frozenset(
    """
    not wrong incorrect correct right invalid valid expired locked blocked forgotten forgot lost
    reset changed change changing same different too very still now being been ok okay fine
    working broken required needed weak strong short long new old the a an my your our
    their this that it is was were be and or but so because if when then also just only again
    please help what why how where which who there here no yes none empty blank missing unknown
    stolen hacked leaked compromised case sensitive updated update recovery field box manager
    policy rules link email sms message set setting settings requirement requirements
    hint prompt screen page form login sign signin protected wont won't doesn't don't didn't
    can't cannot isn't wasn't rejected accepted saved correctly properly anymore any
    every something nothing anything everything mine yours ours theirs his hers entered
    typed input sent shown displayed used given asked shared stored known for to of in on at
    with from by about into over after before during without under did does do has have had
    will would should could can may might must shall each all both either neither some most
    many few enter type use choose see click tap go follow open
    """.split()
)

# --- labels ----------------------------------------------------------------------------------
# Literal anchors are found with str.find (C speed, no per-position regex work); each hit is
# confirmed by an anchored label regex and classified into a family whose tail is then tried.
_ANCHORS: dict[str, tuple[str, str]] = {
    # anchor: (family, label regex matched at the anchor, lowercase text)
    "验证码": ("otp", r"验证码"),
    "驗證碼": ("otp", r"驗證碼"),
    "動態碼": ("otp", r"動態碼"),
    "動態密碼": ("otp", r"動態密碼"),
    "一次性密碼": ("otp", r"一次性密碼"),
    "安全碼": ("cvv", r"安全碼"),
    "iban": ("iban", r"iban(?![a-z])"),
    "identity number": ("id15", r"identity\s+(?:number|no\.?)(?![a-z])"),
    "id number": ("id15", r"id\s+(?:number|no\.?)(?![a-z])"),
    "校验码": ("otp", r"校验码"),
    "动态码": ("otp", r"动态码"),
    "动态密码": ("otp", r"动态密码"),
    "短信码": ("otp", r"短信码"),
    "确认码": ("otp", r"确认码"),
    "授权码": ("otp", r"授权码"),
    "认证码": ("otp", r"认证码"),
    "登录码": ("otp", r"登录码"),
    "一次性": ("otp", r"一次性(?:验证码|密码|代码)"),
    "安全码": ("cvv", r"安全码"),
    "验证值": ("cvv", r"验证值"),
    "背面": ("cvv", r"背面的?(?:签名[栏条区]的?)?(?:最?后)?(?:三|3|四|4)位(?:数字?|码)?"),
    "背后": ("cvv", r"背后的?(?:签名[栏条区]的?)?(?:最?后)?(?:三|3|四|4)位(?:数字?|码)?"),
    "security number": ("cvv", r"security\s+(?:number|no\.?|digits?)(?![a-z])"),
    "back of": ("cvv", r"back\s+of\s+(?:my|the|your)\s+card(?![a-z])"),
    "on the back": ("cvv", r"on\s+the\s+back(?:\s+of\s+(?:my|the|your)\s+card)?(?![a-z])"),
    "卡号": ("card_no", r"卡号码?"),
    "卡號": ("card_no", r"卡號碼?"),
    "有效期": ("expiry", r"有效期(?:至|到|是|为)?"),
    "到期": ("expiry", r"到期(?:日期|日|时间)?"),
    "过期日期": ("expiry", r"过期日期"),
    "过期时间": ("expiry", r"过期时间"),
    "失效日期": ("expiry", r"失效日期"),
    "密码": ("password_zh", r"密码"),
    "密碼": ("password_zh", r"密碼"),
    "口令": ("password_zh", r"口令"),
    "账号": ("account_generic", r"账号"),
    "帳號": ("account_generic", r"帳號"),
    "帐号": ("account_generic", r"帐号"),
    "账户": ("account_generic", r"账户"),
    "帐户": ("account_generic", r"帐户"),
    "賬戶": ("account_generic", r"賬戶"),
    "收款账号": ("account", r"收款账号"),
    "收款帐号": ("account", r"收款帐号"),
    "收款人账号": ("account", r"收款人账号"),
    "银行账号": ("account", r"银行账号"),
    "银行帐号": ("account", r"银行帐号"),
    "对公账号": ("account", r"对公账号"),
    "结算账号": ("account", r"结算账号"),
    "打款账号": ("account", r"打款账号"),
    "开户账号": ("account", r"开户账号"),
    # a bank card or a bank named just before a long number: its account ("请退款到我的建设银行
    # 6217 …", "储蓄卡 6217 …"); 12+ digits, so hotlines (95588, 400-820-0588) never qualify
    "储蓄卡": ("bank_near", r"储蓄卡(?:号码?)?"),
    "借记卡": ("bank_near", r"借记卡(?:号码?)?"),
    "信用卡": ("bank_near", r"信用卡(?:号码?)?"),
    "银行卡": ("bank_near", r"银行卡"),
    "工资卡": ("bank_near", r"工资卡(?:号码?)?"),
    "銀行": ("bank_near", r"銀行"),
    "银行": ("bank_near", r"银行"),
    "招行": ("bank_near", r"招行卡?"),
    "工行": ("bank_near", r"工行卡?"),
    "建行": ("bank_near", r"建行卡?"),
    "农行": ("bank_near", r"农行卡?"),
    "中行": ("bank_near", r"中行卡?"),
    "交行": ("bank_near", r"交行卡?"),
    "邮储": ("bank_near", r"邮储(?:银行)?卡?"),
    # money sent to a number: "提现到 6222 …", "转到 …"
    "转到": ("bank_near", r"转到"),
    "转入": ("bank_near", r"转入"),
    "打到": ("bank_near", r"打到"),
    "汇到": ("bank_near", r"汇到"),
    "汇入": ("bank_near", r"汇入"),
    "退到": ("bank_near", r"退到"),
    "退回到": ("bank_near", r"退回到"),
    "退款到": ("bank_near", r"退款到"),
    "打款到": ("bank_near", r"打款到"),
    "提现到": ("bank_near", r"提现到"),
    # where the money goes, then a name and the number: "收款信息：张三 6222…"
    "收款信息": ("bank_near", r"收款信息"),
    "收款人": ("bank_near", r"收款人"),
    "收款方": ("bank_near", r"收款方"),
    "打款信息": ("bank_near", r"打款信息"),
    "汇款信息": ("bank_near", r"汇款信息"),
    "银行信息": ("bank_near", r"银行信息"),
    "账户信息": ("bank_near", r"账户信息"),
    "bank details": ("bank_near", r"bank\s+details(?![a-z])"),
    "payee": ("bank_near", r"payee(?![a-z])"),
    "转账到": ("bank_near", r"转账到"),
    "bank": ("bank_near", r"bank(?![a-z])"),
    "beneficiary": ("account", r"beneficiary(?:\s+(?:account|acct|a/c))?(?![a-z])"),
    "账户号": ("account", r"账户号码?"),
    "银行卡号": ("account", r"银行卡号码?"),
    "銀行卡號": ("account", r"銀行卡號碼?"),
    "賬戶號": ("account", r"賬戶號碼?"),
    "银行账户": ("account", r"银行账户"),
    "收款账户": ("account", r"收款账户"),
    "对公账户": ("account", r"对公账户"),
    "身份证": ("id15", r"身份证号?码?"),
    "身份證": ("id15", r"身份證號?碼?"),
    "证件号": ("id15", r"证件号码?"),
    "證件號": ("id15", r"證件號碼?"),
    "cvv": ("cvv", r"cvv2?(?![a-z])"),
    "cvc": ("cvv", r"cvc2?(?![a-z])"),
    "cvn": ("cvv", r"cvn2?(?![a-z])"),
    "cav2": ("cvv", r"cav2(?![a-z])"),
    "cid": ("cvv", r"cid(?![a-z])"),
    "csc": ("cvv", r"csc(?![a-z])"),
    "code": ("code", r"code(?![a-z])"),
    "otp": ("otp", r"otp(?![a-z])"),
    "totp": ("otp", r"totp(?![a-z])"),
    "2fa": ("otp", r"2fa(?![a-z])"),
    "mfa": ("otp", r"mfa(?![a-z])"),
    "passcode": ("passcode", r"passcode(?![a-z])"),
    "exp": ("expiry", r"exp(?:iry|iration|ires|ired)?(?:\s+date)?\.?(?![a-z])"),
    "valid": ("expiry", r"valid\s+(?:thru|through|until|till)(?![a-z])"),
    "good thru": ("expiry", r"good\s+thru(?![a-z])"),
    "pin": ("pin", r"pin(?:\s*(?:code|number|no\.?))?(?![a-z])"),
    "account": (
        "account",
        r"account\.?\s*(?:number|no\.?|num|#)(?![a-z])|account(?=[\s:#]{1,3}\d)"
        r"|account\s+(?:is|was|=)(?=\s*\d)",  # "my account is 1234567890" (not a phone)
    ),
    "bank account": ("account", r"bank\s+account(?![a-z])"),
    "acct": ("account", r"acct(?:\.?\s*(?:number|no\.?|num|#))?(?![a-z])"),
    "a/c": ("account", r"a/c(?:\.?\s*(?:number|no\.?|num|#))?(?![a-z])"),
    "id card": ("id15", r"id\s*card(?![a-z])"),
    "identity card": ("id15", r"identity\s+card(?![a-z])"),
    "pass": ("password_en", r"pass(?:word|wd|\s?word|\s?phrase)(?![a-z])|pass(?=\s*[:=])"),
    "pwd": ("password_en", r"pwd(?![a-z])"),
    "pw": ("password_en", r"pw(?![a-z])"),
}
_ANCHOR_RES = {k: (fam, re.compile(src, re.ASCII)) for k, (fam, src) in _ANCHORS.items()}
# every anchor in one scan of a trie-shaped pattern (no leading lookahead: it would disable
# the engine's first-character skip); anchors starting inside a hit ("密码" in "动态密码",
# "account" in "bank account") are picked up by matching at the few positions inside it
_ANCHOR_SCAN = re.compile(trie_pattern(_ANCHORS))
# the same as two scans, Latin and Chinese labels apart (no label mixes scripts, so they never
# start at the same character): each skips faster than the joint one (twice as fast together
# on mixed text), and an ASCII-only text needs only the first
_ASCII_ANCHOR_SCAN = re.compile(trie_pattern(a for a in _ANCHORS if a.isascii()))
_CJK_ANCHOR_SCAN = re.compile(trie_pattern(a for a in _ANCHORS if not a.isascii()))
assert all(a.isascii() or not any(c.isascii() for c in a) for a in _ANCHORS)


# money sent to a number ("please wire it to 0012 3456 7890 12", "refund to …"): common verbs,
# so they are not anchors (a hit costs Python work); one C-speed scan finds only whole phrases
_SEND_TO = re.compile(
    trie_pattern(["wire", "transfer", "deposit", "send", "pay", "refund", "remit"])
    + r"(?:red|ed|ted)?(?:\s+[a-z]+){0,3}?\s+(?:to|into)(?![a-z])"
)


# anchor → the offsets inside it where another anchor can start (one that is a prefix of the
# rest of it, or that the rest of it begins): only there is a second match worth trying
_INNER = {
    a: tuple(
        i
        for i in range(1, len(a))
        if any(b.startswith(a[i:]) or a[i:].startswith(b) for b in _ANCHORS)
    )
    for a in _ANCHORS
}


def _scan_hits(scan: re.Pattern[str], low: str) -> Iterator[tuple[int, str]]:
    match = scan.match
    for hit in scan.finditer(low):
        pos = hit.start()
        found = hit.group(0)
        yield pos, found
        for i in _INNER[found]:
            inner = match(low, pos + i)
            if inner is not None:
                yield pos + i, inner.group(0)


def _anchor_hits(low: str) -> Iterable[tuple[int, str]]:
    """Every position where a label starts, with the longest label there, left to right
    (lazily: label floods stop early)."""
    if low.isascii():
        return _scan_hits(_ASCII_ANCHOR_SCAN, low)
    if len(low) <= _EAGER_HITS:  # a message: both lists at once, sorted (no merge machinery)
        return sorted([*_scan_hits(_ASCII_ANCHOR_SCAN, low), *_scan_hits(_CJK_ANCHOR_SCAN, low)])
    return heapq.merge(_scan_hits(_ASCII_ANCHOR_SCAN, low), _scan_hits(_CJK_ANCHOR_SCAN, low))


_EAGER_HITS = 4096  # characters


# anchor → the anchors that are its prefixes, longest first (all start at the same position)
_PREFIXES = {
    a: sorted((b for b in _ANCHORS if a.startswith(b)), key=len, reverse=True) for a in _ANCHORS
}
# "取款密码", "支付密码"… are PINs; "卡密码" too
_PIN_ZH_BEFORE = ("取款", "支付", "交易", "提现", "银行卡", "卡", "PIN", "pin")
# qualifiers that make "… code" a one-time code or a card security code
_CODE_OTP = re.compile(
    r"(?:verification|verify|one[\s-]?time|otp|sms|text|authentication|auth|authenticator|login|"
    r"log-in|sign[\s-]?in|confirmation|confirm|2fa|mfa|access|activation|dynamic|transaction|"
    r"withdrawal|payment|login|security\s+verification)\s*$"
)
_MOBILE = re.compile(r"(?:86)?1[3-9]\d{9}")
_NOT_BANK = re.compile(r"topay|wallet|user|member|customer|login|会员|用户|钱包|登录|登陆")
# an expiry label counts near a card (number, card words, a security code label), not on a
# coupon or a membership ("coupon valid until 12/26", "会员有效期到 2027-03")
_CARD_STRONG = re.compile(
    r"\d(?:[ \-.]{0,2}\d){11}|cvv|cvc|cvn|security\s+code|安全码|安全碼|背面|背后"
)
_CARD_WEAK = re.compile(
    r"card|卡|visa|master|amex|american express|unionpay|银联|銀聯|jcb|discover|diners|maestro"
)
_NOT_CARD = re.compile(
    r"coupon|promo|voucher|gift|member|subscription|offer|trial|plan|ticket|passport|visa\s+app|"
    r"licen[cs]e|link|token|session|优惠|会员|會員|礼品|禮品|券|积分|活动|套餐|会籍|链接|护照|签证"
)
_BANK_NEAR = re.compile(r"银行|銀行|开户|開戶|户名|戶名|bank")
# a number after "银行卡 … 订单号" is the order's: a reference label between the account label
# and the digits takes them away from the account
_REFERENCE_GAP = CaselessWords(
    r"订单|訂單|单号|單號|流水|交易|编号|編號|快递|運單|运单|发票|參考|参考|凭证|回单|批次|终端|"
    r"授权|追踪|"
    r"order|ref|transaction|txn|tracking|invoice|serial|trace|confirmation|approval|batch|"
    r"terminal|voucher|\brrn\b|\barn\b|\butr\b"
)
_CODE_CVV = re.compile(r"(?:security|card\s+verification|card\s+security)\s*$")
# a number after a bank word or a transfer verb is an account only if nothing between says it
# is something else: a phone, a merchant, a member/user id (references: _REFERENCE_GAP)
_BANK_GAP_STOP = CaselessWords(
    r"电话|热线|客服|手机|座机|传真|商户|会员|用户|客户号|工单|编号|余额|金额|总额|合计|"
    r"tel\b|phone|call|hotline|fax|mobile|merchant|member|user|customer|ticket|case\b|\bid\b|"
    r"balance|amount|total|sum\b|[¥$€£]"
)
_AMOUNT_AFTER = re.compile(
    r"\s?(?:元|块|萬|万|亿|rmb|cny|usd|vnd|eur|hkd|jpy|idr|dollars?|yuan)(?![a-z])", re.IGNORECASE
)  # "1000000000000 VND" is an amount
_NOT_BANK_CARD = re.compile(
    r"会员|會員|礼品|禮品|积分|購物|购物|加油|公交|交通|游戏|點卡|点卡|充值|SIM|sim"
)

_DIGITS = (  # "839201", "8 3 9 2 0 1", "482-193"; not "2026-11-26"
    r"(?<![\d.])(\d{4,8}(?!\d|[.\-/:]\d)|\d(?: \d){3,7}(?! ?\d)|\d{3}[ -]\d{3}(?![\d-]))"
)  # not "2026-11-26"
# "6 位 123456", "6位数 839201", "4 digits: 9041": the length of the code before the code
_LEN_NOTE = r"(?:[^\d\n]{0,8}?(?<![\d.])\d{1,2}\s?(?:位数?|-?digits?|个数字)(?:数字|密码|码|长)?)?"
_ALNUM_CODE = (
    r"(?<![\dA-Za-z])(\d{4,8}|(?=[A-Za-z0-9]{0,11}\d)(?=\d{0,11}[A-Za-z])[A-Za-z0-9]{4,12})"
    r"(?![\dA-Za-z]|[.\-/:]\d)"
)
_TAILS = {
    "cvv": re.compile(r"[^\d\n]{0,12}?(?<!\d)(\d{3,4})(?!\d)", _F),
    "expiry": re.compile(
        r"[^\d\n]{0,10}?(?<!\d)"
        r"((?:0?[1-9]|1[0-2])\s?[/\-.]\s?(?:20)?\d\d(?!\d)"
        r"|20\d\d\s?(?:[/\-.]|年)\s?(?:0?[1-9]|1[0-2])(?:月)?(?!\d)"
        r"|\d\d年\s?(?:0?[1-9]|1[0-2])月"
        r"|(?:0?[1-9]|1[0-2])月\s?/?\s?(?:20)?\d\d年?"
        r"|[2-4]\d\s?/\s?(?:0[1-9]|1[0-2])(?!\d)"  # YY/MM (some cards print it so)
        r"|(?:0[1-9]|1[0-2])\d\d(?!\d)"  # MMYY right after an explicit label
        r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]{0,6}\.?\s?(?:20)?\d\d(?!\d))"
        r"(?!\s?[/\-.]\s?\d|\s?[日号號])",  # a full date (with a day) is not an expiry
        _F,
    ),
    "pin": re.compile(
        _LEN_NOTE
        + r"[^\d\n]{0,20}?(?<![\dA-Za-z.])(\d{4,8}|\d(?: \d){3,7})(?![\dA-Za-z]|[.\-/:]\d| \d)",
        _F,
    ),
    "otp": re.compile(
        _LEN_NOTE + r"[^\d\n]{0,24}?(?:(?<![\dA-Za-z.])(\d(?: \d){3,7}|\d{3,4}[ -]\d{3,4})"
        r"(?![ -]?\d|[A-Za-z])"
        r"|" + _ALNUM_CODE + ")",
        _F,
    ),
    "code": re.compile(r"[^\d\n]{0,24}?(?:\b(?:is|was)\b|[:=])\s*" + _DIGITS, _F),
    "code6": re.compile(r"\s{1,3}(?<!\d)(\d{6})(?!\d|[.\-/:]\d)", _F),
    # "acct ending 4321, full number 8001-2345-4321": the last four named first are skipped
    "account": re.compile(
        r"(?:[^\d\n]{0,12}?\b(?:ending|ends)(?:\s+(?:in|with))?\s*\d{4}(?!\d))?"
        r"[^\d\n]{0,16}?(?<![\d+])(\d(?:[ \-]?\d){7,29})(?!\d)",
        _F,
    ),
    "bank_near": re.compile(
        r"[^\d\n。！？!?]{0,16}?(?<![\d+])(\d(?:[ \-]?\d){11,29})(?![\d.]|-\d)", _F
    ),
    # "卡号" + a number that is not a valid card: a bank card (its account) when it starts like
    # one (major industry 2–6 and 81: cards and banking; "卡号 1234 5678 …" stays)
    "card_no": re.compile(r"[^\d\n]{0,16}?(?<![\d+])((?:[2-6]|81)\d(?:[ \-]?\d){10,17})(?!\d)", _F),
    # "账号"/"account number" alone is often the sign-in (a phone) or a wallet id: a bank
    # account number there is long (China: 12–19 digits)
    "account_generic": re.compile(r"[^\d\n]{0,16}?(?<![\d+])(\d(?:[ \-]?\d){11,29})(?!\d)", _F),
    "id15": re.compile(
        r"[^\d\n]{0,12}?(?<!\d)(\d{15}(?![\dXx])|\d{6}\s?\d{8}\s?\d{3}[\dXx](?![\dXx]))", _F
    ),
    "iban": re.compile(
        r"[^\w\n]{0,6}([A-Za-z]{2}\d\d(?:[ \-]?[A-Za-z0-9]){11,30})(?![A-Za-z0-9])", _F
    ),
    "password_en": re.compile(
        # "the password I use is …", "password for my account is …" (then: only if it looks
        # like a secret or is quoted — "password manager is great")
        r"(?P<fill>\s+(?:i|we)\s+[a-z]{2,8}(?=\s+(?:is|was)\b)"
        r"|\s+(?:for|of|on|to)\s+(?:my|the|this|your|our)(?:\s+[a-z]+){1,2}?(?=\s+(?:is|was)\b))?"
        r"(?P<sep>\s*(?:(?:is\s+going\s+to\s+be|is|was|will\s+be|would\s+be|should\s+be)\b\s*[:=]?"
        r"|->|=>|→|=|:|-)\s*"
        r"(?:now\s+|still\s+|currently\s+)?"
        r"|\s+(?P<soft>(?:(?:set|changed|reset|updated)\s+)?(?:to|as)\s+)?)"
        r"(?P<q>['\"“‘`「『]?)(?P<v>[^\s'\"“”‘’`\[「」『』，。！？；、：（）][^\s'\"“”‘’`「」『』，。！？；、：（）]{2,63})",
        re.IGNORECASE,
    ),
    # a password in Chinese characters or mixed scripts ("张三丰1988", "天王盖地虎"); kept only
    # when `_cjk_password` finds it is not the start of a sentence
    "password_cjk": re.compile(
        r"(?P<sep>(?:\s*(?:就是|也是|是|为|為|改成了?|改为|设置为|设为|设成了?|换成了?|->|=>|:|=)){0,2}\s*)"
        r"(?P<q>['\"“‘`「『]?)"
        r"(?P<v>[^\s'\"“”‘’`「」『』，,。！!？?；;、：:（）()【】<>\[\]]{2,32})"
    ),
    "password_zh_wide": re.compile(
        r"(?P<sep>[^A-Za-z0-9\n'\"“‘`]{1,16}?(?:是|为|為|:|=|改成了?|改为|设置为|设为|换成了?)\s*)"
        r"(?P<q>['\"“‘`]?)(?P<v>[!-Z\\-~][!-~]{2,63})"
    ),
    # "密码和 TOPAY 一样，都是 X": a farther "是/为" — only for values with letters *and* digits
    "password_zh_far": re.compile(
        r"(?P<sep>[^\n:=：号號码碼单單]{1,20}?(?:是|为|為)\s*)"
        r"(?P<q>['\"“‘`]?)(?P<v>(?=[!-~]{0,63}[A-Za-z])(?=[!-~]{0,63}\d)[!-Z\\-~][!-~]{5,63})"
    ),
    "password_zh": re.compile(
        r"(?P<sep>(?:是|为|為|:|=|\s|改成了?|改为|设置为|设为|设成了?|换成了?){0,3})"
        r"(?P<q>['\"“‘`]?)(?P<v>[!-Z\\-~][!-~]{2,63})"
    ),
}
# "error code 1002", "postal code 100000": a bare "code" after these words is not a secret
_NOT_SECRET_CODE = CaselessWords(
    r"(?:error|status|postal|zip|area|country|promo|coupon|referral|invite|invitation|product|"
    r"tracking|reference|order|swift|bank|branch|sort|http|discount|qr|bar|item|region|city|"
    r"currency|merchant|store|gift|voucher|redeem|response|exit|return|source)[\s,;:\-]*$"
)
_OTP_BEFORE = re.compile(
    r"(?<![\d.])(\d{4,8})\s{0,2}(?:是|就是|为)?(?:我|我的|我收到的|收到的)?(?:短信)?$"
)
_OTP_IS_YOUR = re.compile(
    r"(?<![\d.])(\d{4,8})(?!\d)\s+is\s+your\s+(?:[A-Za-z-]+\s+){0,3}"
    r"(?:code|otp|passcode|pin|password)\b",
    re.IGNORECASE | re.ASCII,
)
_TRAILING = ".,;:!?)]}>'\"“”‘’"
_QUOTES = {"'": "'", '"': '"', "“": "”", "‘": "’", "`": "`", "「": "」", "『": "』"}


def _cjk_password(text: str, tail: re.Match[str]) -> Span | None:
    start = tail.start("v")
    quoted = tail.group("q")
    value = tail.group("v")
    if quoted:
        end = text.find(_QUOTES[quoted], start, start + 40)
        if end <= start:
            return None
        value = text[start:end]
    if not CJK.search(value) or cjk_prose(value, quoted=bool(quoted)):
        return None
    sep = tail.group("sep")
    strong = bool(sep.strip()) or bool(quoted)
    if not sep and not quoted:
        return None  # "登录密码相互独立", "输入原密码即可": the sentence goes on
    if not strong and not ASCII_ALNUM.search(value) and len(value) > 8:
        return None  # "密码 天王盖地虎" without 是/：/quotes: short values only
    return Span(start, start + len(value), "password")


_MAX_LABELS = 2000  # a real message has a handful; bounds the work on label floods
_MAX_BANK_WORDS = 300  # bank names/transfer words (each looks both ways): a tighter bound


def _looks_secret(v: str) -> bool:
    return any(c.isdigit() for c in v) or not v.isalpha() or (v != v.lower() and v != v.title())


def _password(text: str, tail: re.Match[str], english: bool, *, wide: bool = False) -> Span | None:
    start = tail.start("v")
    quoted = tail.group("q")
    if quoted:
        end = text.find(_QUOTES[quoted], start, start + 65)
        if end > start:
            return Span(start, end, "password")
    value = tail.group("v")
    while len(value) > 3 and value[-1] in _TRAILING:
        value = value[:-1]
    if CJK.search(value):  # "password: 天王盖地虎, please help" (full-width comma folded)
        value = re.split(r"[,;!?()]", value, maxsplit=1)[0]
        if len(value) < 2 or cjk_prose(value, quoted=False):
            return None  # "password: 忘记了"
    low = value.lower().rstrip(".!?")
    soft = bool(
        tail.groupdict().get("soft")
    )  # "password to X" / "set as X": only if X looks secret
    filler = bool(tail.groupdict().get("fill")) and not tail.group("fill").lstrip().startswith(
        ("i ", "we ")
    )
    strong = (bool(tail.group("sep").strip()) and not soft and not filler) or bool(quoted)
    if low in STOPWORDS or not any(c.isalnum() for c in value):
        return None  # "password reset", "**忘记密码**，" (masked "******" is no secret either)
    if (wide or not strong) and not _looks_secret(value):
        return None  # "password reset", "password manager", "密码错误，App …"
    if english and not strong and len(value) < 4:
        return None
    return Span(start, start + len(value), "password")


def _group(kind: str) -> Callable[[str, re.Match[str]], Span | None]:
    def make(_text: str, tail: re.Match[str]) -> Span | None:
        g = tail.lastindex or 1  # the value group that matched (some tails have variants)
        if kind == "bank_account" and (
            _MOBILE.fullmatch(re.sub(r"\D", "", tail.group(g)))
            or "+" in _text[max(0, tail.start(g) - 5) : tail.start(g)]
        ):
            return None  # "my account 13800138000", "+1 415 555 0132": a phone, not bank data
        if kind == "bank_account" and (
            _REFERENCE_GAP.found(_text, lowered(_text), tail.start(), tail.start(g))
            or _BANK_GAP_STOP.found(_text, lowered(_text), tail.start(), tail.start(g))
            or _AMOUNT_AFTER.match(_text, tail.end(g))
        ):
            return None
        last4 = None
        if kind in ("bank_account", "iban"):
            last4 = re.sub(r"[^0-9A-Za-z]", "", tail.group(g))[-4:].upper()
        return Span(tail.start(g), tail.end(g), kind, last4)

    return make


_HANDLERS: dict[str, list[tuple[str, Callable[[str, re.Match[str]], Span | None]]]] = {
    "cvv": [("cvv", _group("cvv"))],
    # "security code" is a card code (3–4 digits) or, by some banks, a one-time code
    "code_cvv": [("cvv", _group("cvv")), ("otp", _group("otp"))],
    "iban": [("iban", _group("iban"))],
    "expiry": [("expiry", _group("expiry"))],
    "pin": [("pin", _group("pin"))],
    "pin_zh": [
        ("pin", _group("pin")),
        ("password_zh", lambda t, m: _password(t, m, False)),
        ("password_zh_wide", lambda t, m: _password(t, m, False, wide=True)),
        ("password_cjk", _cjk_password),
    ],
    "otp": [("otp", _group("otp"))],
    "passcode": [("otp", _group("otp")), ("password_en", lambda t, m: _password(t, m, True))],
    "code": [("code", _group("otp")), ("code6", _group("otp"))],
    "account": [("account", _group("bank_account"))],
    "account_generic": [("account_generic", _group("bank_account"))],
    "bank_near": [("bank_near", _group("bank_account"))],
    "card_no": [("card_no", _group("bank_account"))],
    "id15": [("id15", _group("national_id"))],
    "password_en": [("password_en", lambda t, m: _password(t, m, True))],
    "password_zh": [
        ("password_zh", lambda t, m: _password(t, m, False)),
        ("password_zh_wide", lambda t, m: _password(t, m, False, wide=True)),
        ("password_zh_far", lambda t, m: _password(t, m, False, wide=True)),
        ("password_cjk", _cjk_password),
    ],
}


# a 12–30 digit number ending a few characters before a bank name ("张三 6222 0212 … 中国银行"):
# found by walking back from the label (a regex search anchored at the label would retry every
# start position in the window: slow on floods of labels)
_SENTENCE_END = frozenset("\n。！？!?")


def _bank_before(text: str, start: int, done: int) -> Span | None:
    lo = max(0, start - 70, done)
    i = start
    while i > lo and start - i <= 8 and not text[i - 1].isdigit():
        if text[i - 1] in _SENTENCE_END:
            return None
        i -= 1
    if i <= lo or not text[i - 1].isdigit():
        return None
    end, digits = i, 0
    while i > lo:
        ch = text[i - 1]
        if "0" <= ch <= "9":
            digits += 1
            i -= 1
        elif ch in " -" and i - 1 > lo and "0" <= text[i - 2] <= "9":
            i -= 1
        else:
            break
    begin = i
    if not 12 <= digits <= 30 or (begin > 0 and text[begin - 1] in "+0123456789"):
        return None
    number = text[begin:end]
    low = lowered(text)
    if (
        _REFERENCE_GAP.found(text, low, max(0, begin - 16), begin)
        or _BANK_GAP_STOP.found(text, low, max(0, begin - 16), begin)
        or _BANK_GAP_STOP.found(text, low, end, start)
        or _AMOUNT_AFTER.match(text, end)
        or "+" in text[max(0, begin - 5) : begin]
        or _MOBILE.fullmatch(re.sub(r"\D", "", number))
    ):
        return None  # "交易流水 4200… 工商银行", "客服 400… 银行", amounts, phones
    return Span(begin, end, "bank_account", re.sub(r"\D", "", number)[-4:])


class _CardWords:
    """Where card words and card-like numbers are in one text, found in one scan each on first
    use; then "is there one inside [lo, hi)" is a binary search, not a regex run per label."""

    def __init__(self, low: str) -> None:
        self.low = low
        self._strong: list[tuple[int, int]] | None = None
        self._weak: list[tuple[int, int]] | None = None

    @staticmethod
    def _inside(found: list[tuple[int, int]], lo: int, hi: int) -> bool:
        i = bisect_left(found, (lo, -1))
        return i < len(found) and found[i][1] <= hi

    def strong(self, lo: int, hi: int) -> bool:
        if self._strong is None:
            self._strong = [m.span() for m in _CARD_STRONG.finditer(self.low)]
        return self._inside(self._strong, lo, hi)

    def weak(self, lo: int, hi: int) -> bool:
        if self._weak is None:
            self._weak = [m.span() for m in _CARD_WEAK.finditer(self.low)]
        return self._inside(self._weak, lo, hi)


class LabelledSecretRule:
    """CVV/CVC, expiry, PIN, one-time codes, passwords, bank accounts and 15-digit IDs next to
    an English or Chinese label; the label stays, the value goes."""

    def find(self, text: str) -> Iterable[Span]:
        low = lowered(text)
        labels: list[tuple[int, int, str]] = []
        near: _CardWords | None = None  # built on the first expiry label
        # one pass finds every position where an anchor starts (the longest one there; the
        # shorter anchors that are its prefixes are tried too, as separate labels)
        for pos, found in _anchor_hits(low):
            if len(labels) >= _MAX_LABELS:
                break
            if found.isascii() and pos and low[pos - 1].isascii() and low[pos - 1].isalpha():
                continue  # inside a word ("bypass"): so are the anchors that are its prefixes
            tried = ""
            for anchor in _PREFIXES[found]:
                family, label = _ANCHOR_RES[anchor]
                if family == tried:
                    continue  # "银行" inside "银行卡": the same tail from the same place
                m = label.match(low, pos)
                if m is not None:
                    tried = family
                    if family == "expiry" and near is None:
                        near = _CardWords(low)
                    labels.append((pos, m.end(), self._family(low, pos, family, near)))
        if " to" in low:
            for n, m in enumerate(_SEND_TO.finditer(low)):
                if n >= _MAX_LABELS:
                    break
                if not (
                    m.start() and low[m.start() - 1].isascii() and low[m.start() - 1].isalpha()
                ):
                    labels.append((m.start(), m.end(), "bank_near"))
        labels.sort(key=lambda item: (item[0], -item[1]))
        last_end = -1
        bank_words = 0
        for start, end, family in labels:
            if start < last_end or not family:
                continue
            if family == "bank_near":  # the bank named after the number: "6222… 中国银行"
                bank_words += 1
                if bank_words > _MAX_BANK_WORDS:
                    continue
                span = _bank_before(text, start, last_end)
                if span is not None:
                    yield span
            for tail_name, handler in _HANDLERS[family]:
                tail = _TAILS[tail_name].match(text, end)
                if tail is None:
                    continue
                span = handler(text, tail)
                if span is not None:
                    last_end = span.end
                    yield span
                    break
        if "is your" in low:
            for n, m in enumerate(_OTP_IS_YOUR.finditer(text)):
                if n >= _MAX_LABELS:
                    break
                yield Span(m.start(1), m.end(1), "otp")
        for start, _end, family in labels:
            if family == "otp" and text.startswith(("验证码", "动态码"), start):
                m = _OTP_BEFORE.search(text, max(0, start - 16), start)
                if m is not None:
                    yield Span(m.start(1), m.end(1), "otp")

    @staticmethod
    def _family(low: str, pos: int, family: str, near: _CardWords | None) -> str:
        before = low[max(0, pos - 24) : pos]
        if family == "code":
            if _CODE_CVV.search(before):
                return "code_cvv"
            if _CODE_OTP.search(before):
                return "otp"
            if _NOT_SECRET_CODE.found(before, before):
                return ""
        if family == "cvv" and before.rstrip().endswith("social"):
            return ""  # "social security number"
        if family in ("account", "account_generic") and _NOT_BANK.search(before):
            return ""
        if family == "card_no":  # "卡号" + a Luhn-invalid number: a bank card's account number
            if _NOT_BANK_CARD.search(low, max(0, pos - 8), pos):
                return ""  # a membership, gift or transit card
            window = low[max(0, pos - 30) : pos + 60]
            return "account" if _BANK_NEAR.search(window) else "card_no"
        if family == "expiry":
            assert near is not None
            lo, hi = max(0, pos - 100), pos + 80
            if not near.strong(lo, hi) and (
                not near.weak(lo, hi) or _NOT_CARD.search(low, max(0, pos - 40), pos)
            ):
                return ""
        if family == "password_zh" and before.endswith(_PIN_ZH_BEFORE):
            return "pin_zh"
        return family


class PasswordRule:
    """Kept for API compatibility: passwords are handled by `LabelledSecretRule`."""

    def find(self, text: str) -> Iterable[Span]:
        return ()


# A token shaped like a password: lower-case letters, digits and a symbol *inside* the token
# ("Abc!2345", "P@ssw0rd!", "Tr0ub4dor&3"), or an underscore with mixed case ("BlueSky_88").
# Order ids, amounts, versions, addresses and hashes have no lower-case letter next to such a
# symbol; e-mail addresses and URLs are skipped.
_SHAPE_SYMBOL = re.compile(r"[!@#$^&*+=~_]+")  # rare characters: the engine skips to them
_SHAPE_STRONG = frozenset("!@#$^&*+=~")  # not "%": "50%off"
_TOKEN_STOP = " \t\r\n'\"“”‘’`()[]{}<>,;，。；：（）【】「」、"
_EMAIL_OR_URL = re.compile(
    r"[^@\s]+@[A-Za-z0-9-]+\.[A-Za-z]|://|^www\.|\.(?:com|cn|net|org)\b|^v?\d+\.\d+"
)  # e-mail, URL, version number
_MAX_SHAPES = 500


def _token_bounds(text: str, pos: int) -> tuple[int, int]:
    lo = pos
    stop = _TOKEN_STOP
    while lo > 0 and pos - lo < 64 and text[lo - 1] not in stop and text[lo - 1].isascii():
        lo -= 1
    hi = pos
    n = len(text)
    while hi < n and hi - pos < 64 and text[hi] not in stop and text[hi].isascii():
        hi += 1
    while hi > lo and text[hi - 1] in ".!?:":  # sentence punctuation after the token
        hi -= 1
    while lo < hi and text[lo] == ":":  # "密码：Abc@2025" (the full-width colon is folded)
        lo += 1
    return lo, hi


# API object ids ("pay_3MtwBwLkdIwHu7ix28a3tqPa", "cus_NffrFeUfNV2Hib"): a short lower-case
# prefix, an underscore and a long random tail — references, not passwords
_OBJECT_ID = re.compile(r"[a-z]{2,8}_[A-Za-z0-9]{14,}")


def password_shaped(token: str) -> bool:
    if not 6 <= len(token) <= 40 or _EMAIL_OR_URL.search(token) or _OBJECT_ID.fullmatch(token):
        return False
    lower = upper = digit = strong = under = False
    for c in token:
        if "a" <= c <= "z":
            lower = True
        elif "A" <= c <= "Z":
            upper = True
        elif "0" <= c <= "9":
            digit = True
        elif c in _SHAPE_STRONG:
            strong = True
        elif c == "_":
            under = True
    if not (lower and digit):
        return False
    inner = token[1:-1]
    strong_inside = any(c in _SHAPE_STRONG for c in inner)
    return (strong and strong_inside) or (under and upper and "_" in inner)


_NOT_SHAPE_SYMBOL = bytes(b for b in range(256) if chr(b) not in "!@#$^&*+=~_")
_FEW_SYMBOLS = 2000


def _symbol_runs(text: str) -> Iterator[tuple[int, int]]:
    """The spans of `_SHAPE_SYMBOL.finditer(text)` (maximal runs of the symbols). Most texts
    have none or a few: a C-speed byte count says so, and a few are found by bytes.find;
    only texts full of them get the regex scan."""
    flat = char_bytes(text)
    symbols = flat.translate(None, _NOT_SHAPE_SYMBOL)
    if not symbols:
        return
    if len(symbols) > _FEW_SYMBOLS:
        for m in _SHAPE_SYMBOL.finditer(text):
            yield m.span()
        return
    positions: list[int] = []
    for symbol in set(symbols):
        i = flat.find(symbol)
        while i >= 0:
            positions.append(i)
            i = flat.find(symbol, i + 1)
    positions.sort()
    start = prev = positions[0]
    for pos in positions[1:]:
        if pos != prev + 1:
            yield start, prev + 1
            start = pos
        prev = pos
    yield start, prev + 1


class PasswordShapeRule:
    """Unlabelled passwords: a token that can only be a password by its shape (lower-case
    letters + digits + a symbol inside, or mixed case + digits + underscore)."""

    def find(self, text: str) -> Iterable[Span]:
        if not char_bytes(text).translate(None, _NOT_SHAPE_SYMBOL):
            return ()  # none of the symbols (most texts): no generator started
        return self._find(text)

    def _find(self, text: str) -> Iterator[Span]:
        last = -1
        n = 0
        size = len(text)
        for start, end in _symbol_runs(text):
            if start < last or not start or end >= size:
                continue
            before, after = text[start - 1], text[end]
            if not (before.isascii() and before.isalnum() and after.isascii() and after.isalnum()):
                continue  # the symbol must sit inside a token
            n += 1
            if n > _MAX_SHAPES:
                break
            lo, hi = _token_bounds(text, start)
            last = hi
            if password_shaped(text[lo:hi]):
                yield Span(lo, hi, "password")
