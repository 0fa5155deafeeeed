"""Redaction throughput and worst case: `python bench/redaction.py`.

Prints MB/s on realistic mixed bilingual text (with and without secrets) and the worst time on
adversarial 100 KB inputs built to trigger backtracking or per-token work in every rule.
Bounded: a few seconds.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from mnemonic import Mnemonic

from paydesk.domain.redaction import default_redactor

R = default_redactor()
rng = random.Random(7)
PHRASE = Mnemonic("english").to_mnemonic(bytes(range(16)))

MIXED = [
    "Hello, my payment for order 2026112612345678 failed on 2026-11-26 at 14:30. ",
    "我的账户被冻结了，余额还有 3000 元，请帮我看看，订单号 202611260001。",
    "I transferred ¥1,288.00 to my friend but it has not arrived, phone 13800138000. ",
    "tx hash 0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060 pending. ",
    "提现到银行卡一直显示处理中，已经三天了，客服电话 400-820-8820 打不通。",
    "The app shows error code 1002 when I open the wallet page, version 4.12.3. ",
    "I forgot my password and the reset link does not work, please help me. ",
    "请问如何开通信用卡还款功能？我想用余额还款。",
]
SECRETS = [
    "My card 4111 1111 1111 1111 exp 09/28 CVV 737. ",
    "验证码 839201，密码：Zh@ngSan_1990。",
    f"my recovery phrase is {PHRASE}. ",
    "身份证号 11010519491231002X。",
]


def corpus(size: int, with_secrets: bool) -> str:
    parts: list[str] = []
    n = 0
    pool = MIXED + (SECRETS if with_secrets else [])
    while n < size:
        p = rng.choice(pool)
        parts.append(p)
        n += len(p.encode())
    return "".join(parts)


def timed(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best wall-clock time of `repeat` runs."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def cpu_timed(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best CPU time of this process (time.process_time): what the redactor itself costs,
    independent of how many other processes share the cores (wall time is printed too)."""
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


ADVERSARIAL: dict[str, str] = {
    "digits spaced": "1 " * 50_000,
    "digits run": "4" * 100_000,
    "card-like groups": "4111 1111 1111 111 " * 5_300,
    "dash digits": "1-" * 50_000,
    "hex run": "a" * 100_000,
    "hex runs of 63": ("ab" * 32)[:63] * 1_580 + "",
    "base58 run": "5Hue" * 25_000,
    "labels en": "password is " * 8_400,
    "labels otp": "verification code " * 5_600,
    "labels zh": "验证码密码助记词" * 4_200,
    "cvv label + letters": "cvv " + "a" * 99_996,
    "otp label + alnum": "otp " + "a1" * 49_998,
    "bip39 words": (PHRASE + " ") * 1_350,
    "bip39 near-misses": ("abandon " * 11 + "zzz ") * 1_100,
    "zh spaced chars": "的 " * 50_000,
    "zh chars": "的一是在不了有和人这中大" * 2_800,
    "iban-like": "GB82 " * 20_000,
    "account label": "account number 1 " * 5_900,
    "id-like": "110105194912310021 " * 5_200,
    "html-ish": "<b>4</b>" * 12_500,
}


def main() -> None:
    import os
    import re

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs (figures scale with machine load)")
    print("each figure: wall clock / CPU time of this process (the CPU figure is the one that")
    print("does not depend on the other processes sharing the machine)")
    # baselines on the same text in the same run: what this machine does right now at C speed,
    # so figures from a loaded machine can be judged (ratios move less than absolute MB/s)
    base_text = corpus(2_000_000, False)
    mb = len(base_text.encode()) / 1e6
    t = timed(lambda: base_text.encode(), repeat=2)
    c = cpu_timed(lambda: base_text.encode(), repeat=2)
    print(f"{'baseline: text.encode()':32s} {mb / t:7.1f} / {mb / c:5.1f} MB/s")
    t = timed(lambda: re.findall(r"\d+", base_text), repeat=2)
    scan_cpu = cpu_timed(lambda: re.findall(r"\d+", base_text), repeat=2)
    label = r"baseline: one regex scan (\d+)"
    print(f"{label:32s} {mb / t:7.1f} / {mb / scan_cpu:5.1f} MB/s")
    for label, secrets in (("mixed text", False), ("mixed text with secrets", True)):
        text = corpus(2_000_000, secrets)
        t = timed(lambda text=text: R.redact(text), repeat=2)
        c = cpu_timed(lambda text=text: R.redact(text), repeat=2)
        mb = len(text.encode()) / 1e6
        scans = c / (scan_cpu * mb / (len(base_text.encode()) / 1e6))
        print(
            f"{label:32s} {mb / t:7.1f} / {mb / c:5.1f} MB/s ({mb:.1f} MB; CPU = {scans:.1f} "
            "regex scans)"
        )
        msgs = [p for p in corpus(300_000, secrets).split(". ") if p]
        size = sum(len(m.encode()) for m in msgs) / 1e6
        t = timed(lambda msgs=msgs: [R.redact(m) for m in msgs], repeat=2)
        c = cpu_timed(lambda msgs=msgs: [R.redact(m) for m in msgs], repeat=2)
        each = c / len(msgs) * 1e6
        print(
            f"{'  as single messages':32s} {size / t:7.1f} / {size / c:5.1f} MB/s "
            f"({len(msgs)} of ~{size * 1e6 / len(msgs):.0f} bytes, {each:.0f} µs CPU each)"
        )
    worst = ("", 0.0, 0.0)
    for name, text in ADVERSARIAL.items():
        t = timed(lambda text=text: R.redact(text))
        c = cpu_timed(lambda text=text: R.redact(text))
        if c > worst[2]:
            worst = (name, t, c)
        kb = len(text.encode()) / 1000
        print(f"  adversarial {name:24s} {kb:6.0f} KB {t * 1000:7.1f} / {c * 1000:5.1f} ms")
    print(
        f"worst case: {worst[1] * 1000:.1f} ms wall / {worst[2] * 1000:.1f} ms CPU "
        f"on 100 KB ({worst[0]})"
    )
    after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {after:.1f} at the end")


if __name__ == "__main__":
    main()
