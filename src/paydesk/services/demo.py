"""The TOPAY demo workspace: staff with printed logins, queues, ~50 bilingual customers and ~200
tickets across channels and statuses, all created through the real intake pipeline. Idempotent."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import func, select

from paydesk.domain.inbound import InboundMessage
from paydesk.domain.tickets import Channel
from paydesk.services import intake
from paydesk.services.actors import Actor
from paydesk.services.auth import agent_actor, create_token
from paydesk.services.context import AppContext
from paydesk.services.staff import create_agent, ensure_default_queues
from paydesk.services.tickets import add_agent_message, update_ticket
from paydesk.store.agents import Agent
from paydesk.store.tickets import Ticket

STAFF: list[dict[str, Any]] = [
    {
        "email": "admin@topay.example",
        "name": "Ada Admin",
        "role": "admin",
        "password": "topay-admin-2026",
        "languages": ["en", "zh-CN"],
        "queues": [],
    },
    {
        "email": "supervisor@topay.example",
        "name": "Sun Li (孙丽)",
        "role": "supervisor",
        "password": "topay-super-2026",
        "languages": ["zh-CN", "en"],
        "queues": [],
    },
    {
        "email": "agent@topay.example",
        "name": "Wang Fang (王芳)",
        "role": "agent",
        "password": "topay-agent-2026",
        "languages": ["zh-CN", "en"],
        "queues": ["general-zh", "account-zh", "transactions-zh", "complaints"],
    },
    {
        "email": "agent.en@topay.example",
        "name": "Tom Baker",
        "role": "agent",
        "password": "topay-agent-2026",
        "languages": ["en"],
        "queues": ["general-en", "account-en", "transactions-en", "technical"],
    },
    {
        "email": "oncall@topay.example",
        "name": "Chen Hao (陈浩)",
        "role": "technical",
        "password": "topay-tech-2026",
        "languages": ["zh-CN", "en"],
        "queues": ["technical"],
    },
    {
        "email": "auditor@topay.example",
        "name": "Grace Auditor",
        "role": "auditor",
        "password": "topay-audit-2026",
        "languages": ["en"],
        "queues": [],
    },
]

ZH_NAMES = [
    "张伟",
    "王秀英",
    "李娜",
    "刘洋",
    "陈静",
    "杨磊",
    "赵敏",
    "黄勇",
    "周杰",
    "吴霞",
    "徐强",
    "孙悦",
    "马超",
    "朱琳",
    "胡斌",
    "郭婷",
    "何平",
    "高翔",
    "林芳",
    "罗军",
    "郑爽",
    "梁晨",
    "谢婷",
    "宋涛",
    "唐敏",
]
EN_NAMES = [
    "Alice Morgan",
    "Ben Carter",
    "Chloe Evans",
    "David Kim",
    "Emma Lewis",
    "Frank Moore",
    "Grace Hall",
    "Henry Scott",
    "Isla Young",
    "Jack Turner",
    "Kate Wright",
    "Liam Green",
    "Mia Baker",
    "Noah Adams",
    "Olivia Hill",
    "Paul Nelson",
    "Quinn Reed",
    "Ruby Cook",
    "Sam Price",
    "Tara Bell",
    "Uma Patel",
    "Victor Ross",
    "Wendy Ward",
    "Xavier Gray",
    "Yara Fox",
]

ZH_TICKETS: list[tuple[str, str, str]] = [
    (
        "transactions",
        "退款一直没到账",
        "你好，我10天前申请的退款（订单号 TP20261102-88341）到现在还没到账，请帮忙查一下。",
    ),
    (
        "transactions",
        "转账显示处理中",
        "我昨天给朋友转了 500 元，一直显示“处理中”，对方也没收到，怎么回事？",
    ),
    (
        "transactions",
        "充值失败但扣款了",
        "用招商银行卡充值 200 元，App 提示失败，但银行卡已经扣款了。",
    ),
    (
        "transactions",
        "同一笔消费被扣了两次",
        "我在便利店付款 36.5 元，账单里出现了两笔一样的扣款，请退还一笔。",
    ),
    ("account", "收不到验证码", "登录的时候一直收不到短信验证码，已经试了好几次了。"),
    ("account", "账户被锁定了", "输错几次密码后账户被锁定，现在无法登录，怎么解锁？"),
    ("account", "更换绑定手机号", "我换了新手机号，想把账户绑定的手机号改掉，旧号码已经停用了。"),
    ("account", "实名认证一直审核中", "提交实名认证三天了还在审核中，影响我提现。"),
    ("technical", "App 打开就闪退", "更新到最新版以后，App 一打开就闪退，手机是华为 Mate 60。"),
    ("technical", "付款码刷新不出来", "付款码页面一直转圈，刷新不出来，网络是正常的。"),
    (
        "complaint",
        "投诉：客服处理太慢",
        "我的问题已经拖了两周没有解决，对你们的服务非常不满，要求投诉并尽快处理。",
    ),
    ("suggestion", "建议增加账单导出功能", "希望能增加按月导出账单为 Excel 的功能，方便记账。"),
    (
        "education",
        "有人冒充客服要我的助记词",
        "刚才有人自称 TOPAY 客服，让我提供钱包助记词来“解冻账户”，这是真的吗？",
    ),
    (
        "transactions",
        "加密货币转错网络",
        "我把 USDT 转账时选错了网络（选成了 BSC），资金还能找回吗？",
    ),
]
EN_TICKETS: list[tuple[str, str, str]] = [
    (
        "transactions",
        "Refund not received",
        "Hi, I requested a refund for order TP20261030-55120 twelve days ago and it still hasn't arrived.",
    ),
    (
        "transactions",
        "Transfer stuck in pending",
        "My transfer of $120 to my brother has been pending since yesterday. Is something wrong?",
    ),
    (
        "transactions",
        "Top-up failed but card was charged",
        "I topped up 50 USD with my Visa, the app said it failed but my bank shows the charge.",
    ),
    (
        "transactions",
        "Charged twice for the same purchase",
        "I was charged twice for the same coffee shop payment of 4.80. Please refund one.",
    ),
    (
        "account",
        "Not receiving the verification code",
        "I never get the SMS code when I try to log in. I tried five times.",
    ),
    (
        "account",
        "Account locked",
        "My account got locked after I mistyped my password. How can I unlock it?",
    ),
    (
        "account",
        "Change my email address",
        "I'd like to change the email on my account to my new work address.",
    ),
    (
        "technical",
        "App crashes on start",
        "Since the last update the app crashes as soon as I open it (iPhone 15, iOS 19).",
    ),
    (
        "technical",
        "QR code payment not loading",
        "The pay screen just spins and never shows the QR code.",
    ),
    (
        "complaint",
        "Formal complaint about fees",
        "I was charged a fee that was never disclosed. This is unacceptable and I want to file a formal complaint.",
    ),
    (
        "suggestion",
        "Suggestion: dark mode",
        "Please add a dark mode to the app, it would be nice for night use.",
    ),
    (
        "education",
        "Is this message from TOPAY?",
        "I got an email asking me to confirm my card details on a link. Is this a scam?",
    ),
    (
        "transactions",
        "Crypto sent to the wrong network",
        "I sent USDT on the wrong network (Tron instead of Ethereum). Can it be recovered?",
    ),
]
AGENT_REPLIES = {
    "zh-CN": [
        "您好，已收到您的反馈，我们正在核实，请耐心等待。",
        "您好，问题已处理，请您再确认一下，谢谢！",
        "我们需要先核实您的身份，稍后会通过您注册的邮箱联系您。请注意：TOPAY 绝不会索要您的密码或助记词。",
    ],
    "en": [
        "Thanks for reaching out — we are looking into this now.",
        "This is fixed on our side; could you check again?",
        "We will first confirm it is you through your registered email. TOPAY never asks for your password.",
    ],
}


def seed(
    ctx: AppContext, *, tickets: int = 200, customers: int = 50, rng_seed: int = 2026
) -> dict[str, Any]:
    """Create the demo workspace once; later calls only print the same logins (and a new token)."""
    ensure_default_queues(ctx)
    with ctx.read() as s:
        existing = s.scalar(select(Agent.id).where(Agent.email == STAFF[0]["email"]))
    if existing is None:
        for st in STAFF:
            create_agent(
                ctx,
                email=st["email"],
                name=st["name"],
                password=st["password"],
                role=st["role"],
                languages=st["languages"],
                queues=st["queues"],
            )
    with ctx.read() as s:
        have = s.scalar(select(func.count()).select_from(Ticket)) or 0
    if have < tickets // 2:
        _seed_tickets(ctx, tickets, customers, rng_seed)
    for hook in ctx.extras.get("demo_seeders", []):
        hook(ctx)
    token = create_token(ctx, "admin", "demo")
    return {
        "logins": [
            {"role": s["role"], "email": s["email"], "password": s["password"]} for s in STAFF
        ],
        "token": token.token,
    }


def _seed_tickets(ctx: AppContext, n: int, n_customers: int, seed: int) -> None:
    rng = random.Random(seed)
    people: list[tuple[str, str, str, str]] = []
    for i in range(n_customers):
        if i % 2 == 0:
            name = ZH_NAMES[(i // 2) % len(ZH_NAMES)]
            people.append(
                (name, f"user{i:02d}@example.cn", f"+86138{rng.randrange(10**8):08d}", "zh-CN")
            )
        else:
            name = EN_NAMES[(i // 2) % len(EN_NAMES)]
            people.append(
                (
                    name,
                    f"{name.split()[0].lower()}{i:02d}@example.com",
                    f"+44 7700 9{rng.randrange(10**5):05d}",
                    "en",
                )
            )
    with ctx.read() as s:
        agents = {a.email: agent_actor(s, a) for a in s.scalars(select(Agent))}
    channels = [Channel.EMAIL, Channel.EMAIL, Channel.WEB, Channel.CHAT, Channel.PHONE, Channel.API]
    for i in range(n):
        name, email, phone, locale = people[i % len(people)]
        category, subject, body = rng.choice(ZH_TICKETS if locale == "zh-CN" else EN_TICKETS)
        channel = channels[i % len(channels)]
        res = intake.receive(
            ctx,
            InboundMessage(
                channel=channel,
                subject=subject,
                body=body,
                email=email,
                phone=phone if channel in (Channel.PHONE, Channel.CHAT) else None,
                name=name,
                locale=locale,
                category=category,
                idempotency_key=f"demo-{i}",
                priority="urgent"
                if category == "complaint"
                else rng.choice(["low", "normal", "normal", "high"]),
            ),
        )
        if res.action != "created":
            continue
        agent = agents["agent@topay.example" if locale == "zh-CN" else "agent.en@topay.example"]
        if category == "technical":
            agent = agents["oncall@topay.example"]
        if category == "complaint":
            agent = agents["supervisor@topay.example"]
        _progress(ctx, rng, res.ticket_id, agent, locale, i)


def _progress(
    ctx: AppContext, rng: random.Random, ticket_id: int, agent: Actor, locale: str, i: int
) -> None:
    stage = i % 6  # new, open, pending, on-hold, solved, closed
    if stage == 0:
        return
    update_ticket(ctx, agent, ticket_id, {"assignee_id": agent.id})
    if stage >= 2:
        add_agent_message(ctx, agent, ticket_id, rng.choice(AGENT_REPLIES[locale]))
    if stage == 3:
        add_agent_message(
            ctx,
            agent,
            ticket_id,
            "Waiting for the platform team to confirm the ledger entry.",
            internal=True,
        )
        update_ticket(ctx, agent, ticket_id, {"status": "on-hold"})
    if stage >= 4:
        update_ticket(ctx, agent, ticket_id, {"status": "solved", "tags": ["demo"]})
    if stage == 5:
        update_ticket(ctx, agent, ticket_id, {"status": "closed"})
