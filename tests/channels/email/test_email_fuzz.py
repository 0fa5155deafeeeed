"""Property tests: random and mutated messages never crash the parser (only ParseError, which
means quarantine), and every input to the intake yields a stored message or a quarantine entry."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from paydesk.channels.email.parse import ParseError, parse_email
from paydesk.services.email.ingest import ingest_bytes
from paydesk.store.email import EmailRaw

SEEDS = [
    p.read_bytes() for p in sorted((Path(__file__).parents[2] / "fixtures" / "email").glob("*.eml"))
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "dup", "truncate", "crlf"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(
                st.one_of(
                    st.binary(max_size=40),
                    st.sampled_from(
                        [
                            b"\r\n\r\n",
                            b"--",
                            b"=?gb2312?B?",
                            b"?=",
                            b"boundary=",
                            b";",
                            b'"',
                            b"Content-Type: multipart/mixed; boundary=x\r\n",
                            b"=\r\n",
                            b"\x00",
                            b"Content-Transfer-Encoding: base64\r\n",
                            b"filename*0*=utf-8''%E9",
                        ]
                    ),
                )
            )
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 200))]
        elif op == "dup":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 300))]
        elif op == "truncate":
            del data[pos:]
        elif op == "crlf":
            data = bytearray(bytes(data).replace(b"\r\n", b"\n"))
    return bytes(data)


@st.composite
def synthetic(draw: st.DrawFn) -> bytes:
    headers = draw(
        st.lists(
            st.tuples(
                st.sampled_from(
                    [
                        "From",
                        "To",
                        "Subject",
                        "Message-ID",
                        "Content-Type",
                        "References",
                        "In-Reply-To",
                        "Date",
                        "Content-Transfer-Encoding",
                        "X-Junk",
                    ]
                ),
                st.text(max_size=60),
            ),
            max_size=8,
        )
    )
    head = "".join(f"{k}: {v}\r\n" for k, v in headers).encode("utf-8", "surrogatepass")
    return head + b"\r\n" + draw(st.binary(max_size=300))


ANY_MAIL = st.one_of(mutated(), synthetic(), st.binary(max_size=500))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=ANY_MAIL)
def test_parser_raises_nothing_but_parse_error(raw: bytes) -> None:
    try:
        p = parse_email(raw)
    except ParseError:
        return
    assert isinstance(p.body, str) and p.from_addr or p.bounce is not None


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=ANY_MAIL)
def test_every_input_is_stored_or_quarantined(ctx, raw: bytes) -> None:
    with ctx.read() as s:
        before = s.scalar(select(func.count()).select_from(EmailRaw))
    out = ingest_bytes(ctx, raw, source="cli")
    with ctx.read() as s:
        after = s.scalar(select(func.count()).select_from(EmailRaw))
        statuses = set(s.scalars(select(EmailRaw.status)))
    assert after == before + (0 if out.reason == "duplicate" else 1)
    assert "received" not in statuses  # every row reached a final state
    assert out.action in ("created", "appended", "ignored")
