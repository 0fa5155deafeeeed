"""Sender authentication of inbound mail: `Authentication-Results` (RFC 8601) written by our
own MTA, and optionally DKIM signatures verified here (dkimpy) with a pluggable DNS lookup.

The parsing and the verdict are pure; `verify_dkim` does the DNS lookups through the resolver it
is given (tests pass a local key, production uses dnspython with a timeout).

Verdict (`evaluate`), all results pooled:
  - `dmarc=pass` → pass; `dmarc=fail` → fail (whatever else passed: DMARC already weighed it);
  - else a DKIM pass whose `d=` is aligned with the From domain, or an SPF pass whose
    `smtp.mailfrom` domain is aligned → pass;
  - else any `dkim=fail`, `spf=fail` or `spf=softfail` → fail;
  - else none (no usable evidence: the caller decides, see `PAYDESK_EMAIL_REQUIRE_SENDER_AUTH`).
Alignment is relaxed and approximated without a public-suffix list: equal domains, or one is a
sub-domain of the other (DMARC's own result, when the MTA gives one, is exact).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any, Protocol

PASS, FAIL, NONE = "pass", "fail", "none"
METHODS = ("dmarc", "dkim", "spf")


@dataclass(frozen=True, slots=True)
class MethodResult:
    method: str  # dmarc | dkim | spf (others are parsed and ignored)
    result: str  # pass | fail | softfail | none | neutral | temperror | permerror | policy
    props: dict[str, str] = field(default_factory=dict)  # "header.d" → "example.com", …
    source: str = "authentication-results"  # or "dkim" (verified by paydesk)


@dataclass(frozen=True, slots=True)
class SenderAuth:
    verdict: str  # pass | fail | none
    from_domain: str
    results: tuple[MethodResult, ...] = ()
    reasons: tuple[str, ...] = ()  # short human-readable evidence, e.g. "dmarc=fail"

    def as_meta(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "from_domain": self.from_domain,
            "reasons": list(self.reasons)[:10],
            "results": [
                {"method": r.method, "result": r.result, "source": r.source, **r.props}
                for r in self.results[:10]
            ],
        }


# ---- RFC 8601 parsing --------------------------------------------------------------------------


def _strip_comments(value: str) -> str:
    """Remove (nested) comments outside quoted strings; unfold."""
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for ch in value.replace("\r", " ").replace("\n", " "):
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
            continue
        if ch == "\\":
            escaped = True
            if depth == 0:
                out.append(ch)
            continue
        if quoted:
            quoted = ch != '"'
            out.append(ch)
        elif ch == '"' and depth == 0:
            quoted = True
            out.append(ch)
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def _split_outside_quotes(value: str, sep: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


_TOKEN = re.compile(r'([A-Za-z0-9_./-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s"]+)')


def parse_authentication_results(value: str) -> tuple[str, list[MethodResult]]:
    """`mx.example.org; dkim=pass header.d=example.com; spf=fail smtp.mailfrom=x@y` →
    ("mx.example.org", [MethodResult…]). Malformed pieces are skipped, never raised."""
    pieces = _split_outside_quotes(_strip_comments(value), ";")
    head = pieces[0].split()
    authserv = head[0].lower() if head else ""
    results: list[MethodResult] = []
    for piece in pieces[1:50]:
        tokens = _TOKEN.findall(piece)
        if not tokens:
            continue
        method, result = tokens[0]
        method = method.split("/", 1)[0].lower()
        if not method or not result.strip('"'):
            continue
        props = {}
        for key, val in tokens[1:]:
            key = key.lower()
            if key == "reason":
                props[key] = val.strip('"')[:200]
            elif "." in key:
                props[key] = val.strip('"').lower()[:254]
        results.append(MethodResult(method, result.strip('"').lower()[:20], props))
    return authserv, results


def trusted_results(headers: Iterable[str], trusted_ids: set[str]) -> list[MethodResult]:
    """Results of the `Authentication-Results` headers written by our own MTA (its authserv-id
    is configured). The MTA must remove headers claiming its id from incoming mail (RFC 8601
    §5); every other header is ignored."""
    out: list[MethodResult] = []
    for value in headers:
        authserv, results = parse_authentication_results(value)
        if authserv and authserv in trusted_ids:
            out += [r for r in results if r.method in METHODS]
    return out


def header_values(raw: bytes, name: str, limit: int = 262_144) -> list[str]:
    """Every value of one header in the message head (top first), without parsing the body."""
    head = raw[:limit]
    end = head.find(b"\r\n\r\n")
    end = head.find(b"\n\n") if end < 0 else end
    msg = BytesHeaderParser(policy=compat32).parsebytes(head[: end if end >= 0 else len(head)])
    return [str(v) for v in (msg.get_all(name) or [])][:20]


# ---- DKIM verification ------------------------------------------------------------------------


class TxtResolver(Protocol):
    def __call__(self, name: str) -> bytes | None:
        """The TXT record of a DNS name (e.g. `sel._domainkey.example.com`), or None."""


def dns_txt_resolver(timeout: float = 5.0) -> TxtResolver:
    """The production resolver: dnspython through dkimpy's DNS plug, with a timeout."""
    import dkim.dnsplug

    def resolve(name: str) -> bytes | None:
        data = dkim.dnsplug.get_txt(name.encode() if isinstance(name, str) else name, timeout)
        return bytes(data) if data else None

    return resolve


def verify_dkim(raw: bytes, resolver: TxtResolver, max_signatures: int = 5) -> list[MethodResult]:
    """Verify each DKIM-Signature of the raw message (the first `max_signatures`)."""
    import dkim

    def dnsfunc(name: bytes | str, timeout: float = 5) -> bytes | None:
        return resolver(name.decode() if isinstance(name, bytes) else name)

    try:
        d = dkim.DKIM(raw)
        count = sum(1 for k, _ in d.headers if k.lower() == b"dkim-signature")
    except Exception:  # noqa: BLE001 - an unreadable head has no verifiable signature
        return []
    out: list[MethodResult] = []
    for idx in range(min(count, max_signatures)):
        domain = ""
        try:
            d = dkim.DKIM(raw)
            ok = d.verify(idx=idx, dnsfunc=dnsfunc)
            domain = (d.domain or b"").decode("ascii", "replace").lower()
            result, reason = (PASS, "") if ok else (FAIL, "signature did not verify")
        except dkim.DnsTimeoutError as exc:
            result, reason = "temperror", f"DNS: {exc}"[:200]
        except dkim.ValidationError as exc:  # e.g. the body hash does not match: altered mail
            result, reason = FAIL, str(exc)[:200]
        except Exception as exc:  # noqa: BLE001 - malformed signature, missing key, …
            result, reason = "permerror", f"{type(exc).__name__}: {exc}"[:200]
        domain = domain or (getattr(d, "domain", None) or b"").decode("ascii", "replace").lower()
        props = {"header.d": domain} if domain else {}
        if reason:
            props["reason"] = reason
        out.append(MethodResult("dkim", result, props, source="dkim"))
    return out


# ---- verdict ----------------------------------------------------------------------------------


def aligned(domain: str, from_domain: str) -> bool:
    d, f = domain.lower().strip("."), from_domain.lower().strip(".")
    return bool(d and f) and (d == f or f.endswith("." + d) or d.endswith("." + f))


def _domain_of(value: str) -> str:
    return value.rpartition("@")[2].strip("<>").lower()


def evaluate(from_addr: str | None, results: list[MethodResult]) -> SenderAuth:
    """The verdict of the module docstring for the From address."""
    from_domain = _domain_of(from_addr or "")
    reasons: list[str] = []

    def note(r: MethodResult, what: str = "") -> None:
        src = " (verified by paydesk)" if r.source == "dkim" else ""
        reasons.append(f"{r.method}={r.result}{' ' + what if what else ''}{src}")

    dmarc = [r for r in results if r.method == "dmarc"]
    for r in dmarc:
        if r.result == FAIL:
            note(r, r.props.get("header.from", ""))
            return SenderAuth(FAIL, from_domain, tuple(results), tuple(reasons))
    for r in dmarc:
        if r.result == PASS:
            note(r)
            return SenderAuth(PASS, from_domain, tuple(results), tuple(reasons))
    for r in results:
        if r.result != PASS:
            continue
        if r.method == "dkim":
            d = r.props.get("header.d") or _domain_of(r.props.get("header.i", ""))
            if aligned(d, from_domain):
                note(r, f"d={d}")
                return SenderAuth(PASS, from_domain, tuple(results), tuple(reasons))
        if r.method == "spf":
            d = _domain_of(r.props.get("smtp.mailfrom", "") or r.props.get("smtp.helo", ""))
            if aligned(d, from_domain):
                note(r, f"mailfrom={d}")
                return SenderAuth(PASS, from_domain, tuple(results), tuple(reasons))
    for r in results:
        if (r.method == "dkim" and r.result == FAIL) or (
            r.method == "spf" and r.result in (FAIL, "softfail")
        ):
            note(r, r.props.get("header.d", "") or r.props.get("smtp.mailfrom", ""))
    verdict = FAIL if reasons else NONE
    return SenderAuth(verdict, from_domain, tuple(results), tuple(reasons))


def check_sender(
    raw: bytes,
    from_addr: str | None,
    *,
    trusted_ids: set[str],
    resolver: TxtResolver | None,
    verify: Callable[[bytes, TxtResolver], list[MethodResult]] = verify_dkim,
) -> SenderAuth:
    """Trusted Authentication-Results plus (when a resolver is given) our own DKIM checks."""
    results: list[MethodResult] = []
    if trusted_ids:
        results += trusted_results(header_values(raw, "authentication-results"), trusted_ids)
    if resolver is not None:
        results += verify(raw, resolver)
    return evaluate(from_addr, results)
