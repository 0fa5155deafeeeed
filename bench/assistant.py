"""Assistant and KB search latency with a synthetic 10,000-article bilingual knowledge base.

    .venv/bin/python bench/assistant.py [--articles 10000] [--queries 300]

Builds a temporary SQLite workspace, imports the synthetic KB through `paydesk kb import`'s
service, builds the search index (sentence embeddings included), then measures through the
real HTTP stack (FastAPI TestClient, in process):
  GET /api/v1/kb/search p50/p95 and POST /api/v1/assistant/answer p50/p95, plus peak memory;
  GET /livez through the same client in the same loop is the HTTP stack's own share. Each
  figure also in the app (ASGI entry to response sent: the server's share of the round trip)
  and as process CPU time per request (the requests run one at a time, so wall time above the
  CPU time is time spent waiting for a core on a busy machine).
Targets (issue 5): search p95 < 10 ms, answer p95 < 30 ms, memory < 500 MB.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

CONTENT = ROOT / "src" / "paydesk" / "assistant" / "content"

PRODUCTS_EN = [
    "wallet",
    "card",
    "transfer",
    "top-up",
    "refund",
    "QR code",
    "crypto",
    "merchant",
    "limit",
    "PIN",
    "account",
    "statement",
    "voucher",
    "bill",
    "subscription",
]
PRODUCTS_ZH = [
    "钱包",
    "银行卡",
    "转账",
    "充值",
    "退款",
    "二维码",
    "加密资产",
    "商户",
    "限额",
    "支付密码",
    "账户",
    "账单",
    "卡券",
    "缴费",
    "订阅",
]
CITIES = ["Shanghai", "Beijing", "Shenzhen", "Hangzhou", "Chengdu", "Wuhan", "Xi'an", "Nanjing"]
QUERIES = [
    ("how long does a refund take", "en"),
    ("退款多久到账", "zh-CN"),
    ("我的refund怎么还没到", "zh-CN"),
    ("how do i reset my pasword", "en"),
    ("收不到验证码怎么办", "zh-CN"),
    ("my transfer is stuck in pending", "en"),
    ("怎么提高转账限额", "zh-CN"),
    ("the app keeps crashing", "en"),
    ("助记词可以告诉客服吗", "zh-CN"),
    ("what fees do you charge for withdrawals", "en"),
    ("I want to talk to a human", "en"),
    ("明天上海天气怎么样", "zh-CN"),
]


def synthetic_kb(folder: Path, n: int, seed: int = 7) -> None:
    """n articles: variants of the demo help center's families, half English half Chinese,
    each English article with its Chinese translation."""
    from paydesk.assistant.articles import ArticleData, dump, parse

    rng = random.Random(seed)
    bases = [parse(p.read_text(encoding="utf-8")) for p in sorted(CONTENT.glob("*.md"))]
    en = [b for b in bases if b.locale == "en"]
    zh = {b.translation_of: b for b in bases if b.locale == "zh-CN"}
    for i in range(n // 2):
        b = rng.choice(en)
        z = zh.get(b.slug, b)
        k = rng.randrange(len(PRODUCTS_EN))
        city = rng.choice(CITIES)
        paras_en = [p for p in b.body.split("\n\n") if p.strip()]
        paras_zh = [p for p in z.body.split("\n\n") if p.strip()]
        body_en = "\n\n".join(
            [f"For {PRODUCTS_EN[k]} customers in {city} (case {i}): " + paras_en[0]]
            + rng.sample(paras_en[1:], min(2, len(paras_en) - 1))
        )
        body_zh = "\n\n".join(
            [f"{city}地区{PRODUCTS_ZH[k]}用户（编号 {i}）：" + paras_zh[0]]
            + rng.sample(paras_zh[1:], min(2, len(paras_zh) - 1))
        )
        a = ArticleData(
            f"s{i}-{b.slug}"[:120],
            f"{b.title} — {PRODUCTS_EN[k]}, {city} #{i}",
            "en",
            body_en,
            b.category,
            b.tags + [PRODUCTS_EN[k]],
        )
        t = ArticleData(
            f"s{i}-{b.slug}-zh"[:120],
            f"{z.title}（{PRODUCTS_ZH[k]}·{i}）",
            "zh-CN",
            body_zh,
            b.category,
            z.tags + [PRODUCTS_ZH[k]],
            translation_of=a.slug,
        )
        (folder / f"{a.slug}.md").write_text(dump(a), encoding="utf-8")
        (folder / f"{t.slug}.md").write_text(dump(t), encoding="utf-8")


class ServerClock:
    """The app as an ASGI wrapper that keeps the time of the last request inside the app (first
    byte in to response sent): what the server spends, without the test client's side of the
    round trip."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last_ms = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        t = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.last_ms = (time.perf_counter() - t) * 1000


def _rss_now_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=300)
    args = ap.parse_args()

    from fastapi.testclient import TestClient

    from paydesk.services.bootstrap import prepare
    from paydesk.services.context import build_context
    from paydesk.settings import Settings
    from paydesk.web.app import create_app

    tmp = Path(tempfile.mkdtemp(prefix="paydesk-bench-assistant-"))
    folder = tmp / "kb"
    folder.mkdir()
    synthetic_kb(folder, args.articles)
    env = {
        **os.environ,
        "PAYDESK_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
        "PAYDESK_DATA_DIR": str(tmp / "data"),
        # the import runs this checkout's code, not the installed one (a bench in a worktree)
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])
        ),
    }
    t0 = time.perf_counter()
    # the import runs as the real CLI in its own process, like an operator would run it
    out = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "paydesk"), "kb", "import", str(folder)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    t_import = time.perf_counter() - t0
    print(out.stdout.strip().splitlines()[0] + f" in {t_import:.1f} s (paydesk kb import)")
    ctx = build_context(Settings(database_url=env["PAYDESK_DATABASE_URL"], data_dir=tmp / "data"))
    prepare(ctx)
    t1 = time.perf_counter()
    holder = ctx.extras["kb_index"]
    holder.refresh(force=True)
    t_index = time.perf_counter() - t1
    print(
        f"index of {holder.get().size} articles built in {t_index:.1f} s "
        f"({holder.get().chunks.shape[0]} section vectors)"
    )

    app = ServerClock(create_app(ctx=ctx))
    rng = random.Random(1)
    routes = ("search", "answer", "livez")
    wall: dict[str, list[float]] = {r: [] for r in routes}
    server: dict[str, list[float]] = {r: [] for r in routes}
    cpu: dict[str, list[float]] = {r: [] for r in routes}
    with TestClient(app) as client:

        def timed(route: str, method: str, path: str, **kwargs: Any) -> None:
            t, c = time.perf_counter(), time.process_time()
            r = client.request(method, path, **kwargs)
            wall[route].append((time.perf_counter() - t) * 1000)
            cpu[route].append((time.process_time() - c) * 1000)
            server[route].append(app.last_ms)
            assert r.status_code == 200, r.text

        # warm-up: every measured route once, so the start-up work (the intent model, loaded in
        # a background thread at start; the first answer waits for it) is not in the figures
        for _ in range(20):
            client.get("/api/v1/kb/search", params={"q": "refund"})
            client.post("/api/v1/assistant/answer", json={"message": "refund", "locale": "en"})
            client.get("/livez")
        for i in range(args.queries):
            q, loc = QUERIES[i % len(QUERIES)]
            # every query distinct: the query-embedding cache must not flatter the figures
            q = f"{q} {rng.choice(PRODUCTS_EN)} {i}"
            timed("search", "GET", "/api/v1/kb/search", params={"q": q, "locale": loc})
            timed("answer", "POST", "/api/v1/assistant/answer", json={"message": q, "locale": loc})
            # baseline: the HTTP stack alone (test client, middleware, routing) on a trivial route
            timed("livez", "GET", "/livez")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gc.collect()
    now_mb = _rss_now_mb()
    names = {
        "search": "GET /api/v1/kb/search         ",
        "answer": "POST /api/v1/assistant/answer ",
        "livez": "GET /livez (HTTP baseline)    ",
    }
    targets = {"search": "target p95 < 10 ms", "answer": "target p95 < 30 ms", "livez": "same run"}
    for r in routes:
        print(
            f"{names[r]} p50 {statistics.median(wall[r]):5.1f} ms  p95 {pct(wall[r], 0.95):5.1f} ms"
            f"  ({targets[r]}); in the app p50 {statistics.median(server[r]):5.1f} "
            f"p95 {pct(server[r], 0.95):5.1f} ms; CPU p50 {statistics.median(cpu[r]):4.1f} "
            f"p95 {pct(cpu[r], 0.95):4.1f} ms"
        )
    print(
        f"memory of the serving process: peak RSS {rss_mb:.0f} MB (index build included), "
        f"RSS while serving {now_mb:.0f} MB (target < 500 MB)"
    )
    ctx.engine.dispose()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
