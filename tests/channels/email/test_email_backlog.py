"""A backlog (`paydesk email ingest FILE…`, `ingest_many`): unrelated conversations are processed
at once, a reply always after the message it answers, outcomes reported in input order."""

from __future__ import annotations

from email.utils import parseaddr
from pathlib import Path

from sqlalchemy import func, select

from paydesk.channels.email.parse import quick_headers
from paydesk.services.email.backlog import independent_groups, ingest_many, link_fields
from paydesk.store.email import EmailRaw
from paydesk.store.tickets import Message


def mail(frm: str, mid: str, reply_to: str = "", subject: str = "App crash") -> bytes:
    head = (
        f"From: {frm}\r\nTo: support@topay.example\r\nSubject: {subject}\r\nMessage-ID: {mid}\r\n"
    )
    if reply_to:
        head += f"In-Reply-To: {reply_to}\r\nReferences: {reply_to}\r\n"
    return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\nThe app crashes.\r\n").encode()


def test_groups_keep_senders_and_reply_chains_together() -> None:
    items: list[bytes | Exception] = [
        mail("alice@example.com", "<a1@x>"),
        mail("bob@example.com", "<b1@x>"),
        mail("carol@example.com", "<c1@x>", reply_to="<a1@x>"),  # answers alice's mail
        mail("Bob <BOB@example.com>", "<b2@x>"),  # same sender, other case
        ValueError("unreadable file"),
        mail("dave@example.com", "<d1@x>"),
        b"not an email at all",
        b"",
    ]
    groups = sorted(sorted(g) for g in independent_groups(items))
    assert [0, 2] in groups and [1, 3] in groups and [5] in groups and [4] in groups
    assert [6, 7] in groups  # no sender: kept together, in order
    assert sorted(i for g in groups for i in g) == list(range(len(items)))


def test_link_fields_read_what_the_parser_reads() -> None:
    """The grouping reads From/Message-ID/In-Reply-To/References with a regular expression; on
    every fixture (and folded, LF-only, encoded variants) it sees what the stdlib parser sees."""
    fixtures = Path(__file__).parents[2] / "fixtures" / "email"
    raws = [p.read_bytes() for p in sorted(fixtures.glob("*.eml"))]
    raws += [
        b"from: =?utf-8?B?5p2O5aic?=\n <Li@Example.cn>\nMessage-ID:\n\t<m1@x>\n"
        b"References: <r1@x>\n <r2@x>\n\t<r3@x>\nIn-Reply-To: <r3@x>\n\nReferences: <body@x>\n",
        b"From: a@example.com\r\nSubject: x\r\n\r\nFrom: b@example.com\r\n",
        b"Subject: no sender\r\n\r\nhello",
    ]
    assert len(raws) > 10
    for raw in raws:
        q, fast = quick_headers(raw), link_fields(raw)
        assert parseaddr(fast.get("from", ""))[1].lower() == parseaddr(q.get("from", ""))[1].lower()
        for key in ("message-id", "in-reply-to", "references"):
            assert fast.get(key, "").split() == q.get(key, "").split(), (key, raw[:200])
    assert parseaddr(link_fields(raws[-3])["from"])[1] == "Li@Example.cn"


def test_backlog_threads_replies_and_reports_in_order(ctx) -> None:  # type: ignore[no-untyped-def]
    items: list[tuple[str, bytes | Exception]] = []
    for n in range(12):
        items.append((f"{n}-first", mail(f"user{n}@example.com", f"<first-{n}@x>")))
    for n in range(12):
        reply = mail(f"user{n}@example.com", f"<second-{n}@x>", reply_to=f"<first-{n}@x>")
        items.append((f"{n}-reply", reply))
    items.append(("broken", OSError("cannot read")))
    out = list(ingest_many(ctx, items, source="cli", chunk=64))
    assert [name for name, _ in out] == [name for name, _ in items]
    outcomes = dict(out)
    assert isinstance(outcomes["broken"], OSError)
    for n in range(12):
        first, reply = outcomes[f"{n}-first"], outcomes[f"{n}-reply"]
        assert first.action == "created", first
        assert reply.action == "appended" and reply.ticket_id == first.ticket_id, reply
    with ctx.read() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 24


def test_cli_backlog_on_two_worker_processes(ctx, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`paydesk email ingest -j 2 FILE…`: the files are split between two processes by
    independent groups; outcomes are the same as in one process and printed in input order."""
    import json
    import os
    import subprocess
    import sys

    files: list[str] = []

    def put(name: str, data: bytes) -> None:
        path = tmp_path / name
        path.write_bytes(data)
        files.append(str(path))

    for n in range(30):
        put(f"{n:02d}-first.eml", mail(f"user{n}@example.com", f"<first-{n}@x>"))
    for n in range(30):
        reply = mail(f"user{n}@example.com", f"<second-{n}@x>", reply_to=f"<first-{n}@x>")
        put(f"{n:02d}-reply.eml", reply)
    put("dup.eml", mail("user3@example.com", "<first-3@x>"))  # the same mail delivered again
    files.append(str(tmp_path / "missing.eml"))  # unreadable: reported, the rest go on
    ctx.extras["intent_model"].get()  # the data dir gets this process's trained model
    env = {
        **os.environ,
        "PAYDESK_DATABASE_URL": ctx.settings.database_url,
        "PAYDESK_DATA_DIR": str(ctx.settings.data_dir),
        "PAYDESK_SECRET_KEY": ctx.settings.secret_key,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "paydesk.cli", "email", "ingest", "-j", "2", *files],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 75, proc.stderr[-2000:]  # EX_TEMPFAIL: the MTA keeps the missing one
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [row["file"] for row in lines] == files
    out = {os.path.basename(row["file"]): row for row in lines}
    for n in range(30):
        first, reply = out[f"{n:02d}-first.eml"], out[f"{n:02d}-reply.eml"]
        assert first["action"] == "created", first
        assert reply["action"] == "appended" and reply["ticket_id"] == first["ticket_id"], reply
    assert out["dup.eml"]["action"] == "ignored"
    assert out["dup.eml"]["ticket_id"] == out["03-first.eml"]["ticket_id"]
    assert out["missing.eml"]["action"] == "error"
    assert len({out[f"{n:02d}-first.eml"]["ticket_id"] for n in range(30)}) == 30
    with ctx.read() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 60


def test_noise_of_a_backlog_is_recorded_together(ctx) -> None:  # type: ignore[no-untyped-def]
    """Auto-replies of one wave are recorded in one transaction; each gets its own raw row."""
    auto = "Auto-Submitted: auto-replied\r\n"
    items: list[tuple[str, bytes | Exception]] = [
        (
            f"ooo-{n}",
            mail(f"away{n}@example.com", f"<ooo-{n}@x>").replace(
                b"\r\n\r\n", b"\r\n" + auto.encode() + b"\r\n", 1
            ),
        )
        for n in range(5)
    ]
    items.append(("real", mail("real@example.com", "<real@x>")))
    out = dict(ingest_many(ctx, items, source="cli"))
    assert out["real"].action == "created"
    ids = set()
    for n in range(5):
        o = out[f"ooo-{n}"]
        assert (o.action, o.reason) == ("ignored", "Auto-Submitted: auto-replied"), o
        ids.add(o.raw_id)
    with ctx.read() as s:
        rows = list(s.execute(select(EmailRaw.id, EmailRaw.status, EmailRaw.from_addr)))
    ignored = {r.id for r in rows if r.status == "ignored"}
    assert ids == ignored and len(ignored) == 5
    assert {r.from_addr for r in rows} == {f"away{n}@example.com" for n in range(5)} | {
        "real@example.com"
    }


def test_recording_together_survives_a_row_another_delivery_wrote(ctx) -> None:  # type: ignore[no-untyped-def]
    """A raw row that a concurrent delivery recorded first (same dedupe key) answers with that
    row's id; the other rows of the same transaction are still written (savepoint per row)."""
    from paydesk.services.email.ingest import _save_many

    def row(n: int) -> dict[str, object]:
        return {
            "workspace_id": 1,
            "source": "cli",
            "mailbox": "",
            "sha256": f"{n:064d}",
            "storage_key": f"mail/00/{n:064d}",
            "size": 10,
            "message_id": f"<r{n}@x>",
            "mid_hash": None,
            "dedupe_key": f"m:{n}",
            "from_addr": f"r{n}@example.com",
            "subject": "",
        }

    first = _save_many(ctx, [(row(1), "ignored", "x")])[0]
    ids = _save_many(
        ctx, [(row(0), "ignored", "a"), (row(1), "ignored", "b"), (row(2), "ignored", "c")]
    )
    assert ids[1] == first and len(set(ids)) == 3
    with ctx.read() as s:
        reasons = dict(s.execute(select(EmailRaw.dedupe_key, EmailRaw.reason)).all())
    assert reasons == {"m:0": "a", "m:1": "x", "m:2": "c"}
