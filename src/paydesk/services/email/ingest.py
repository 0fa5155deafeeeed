"""Email intake: raw bytes in, ticket message (or a recorded reason) out.

    store raw (fsync + `email_raw` row committed)  ← the message may be acknowledged after this
    → parse → noise/bounce rules → threading → intake pipeline (the raw row is marked processed in
    the same transaction) → after commit: a secret found by redaction replaces the raw bytes by
    a redacted rendering (DESIGN privacy rule).

Any failure after the raw row is committed quarantines that row with the error; the caller still
gets an answer and the next message is processed (`paydesk email replay` retries quarantine).

A backlog (`backlog.ingest_many`) goes in *waves* of messages that do not depend on each other
(`ingest_wave`): one duplicate lookup and one intake write transaction per wave
(`intake.receive_many`), the raw and auto-acknowledgement rows in its multi-row INSERTs.
"""

from __future__ import annotations

import hashlib
import logging
import traceback
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from sqlalchemy import Executable, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paydesk.channels.email.charsets import decode_header_value
from paydesk.channels.email.parse import (
    ParsedEmail,
    ParseError,
    ParseLimits,
    parse_email,
    quick_headers,
    valid_address,
)
from paydesk.domain.attachments import check_attachment
from paydesk.domain.errors import DomainError
from paydesk.domain.inbound import InboundAttachment, InboundMessage
from paydesk.domain.mailthread import (
    ThreadClues,
    decide_thread,
    first_message_id,
    message_ids,
    mid_hash,
    noise_reason,
    suppress_ack,
)
from paydesk.services import intake
from paydesk.services.context import AppContext
from paydesk.services.email import bounces, senderauth
from paydesk.services.email.outbox import signing_secret
from paydesk.services.email.participants import own_addresses
from paydesk.services.files import read_bytes, store_bytes
from paydesk.store.base import utcnow
from paydesk.store.customers import CustomerIdentity
from paydesk.store.email import EmailOutbox, EmailRaw, RawStatus
from paydesk.store.email_participants import EmailParticipant
from paydesk.store.tickets import Ticket

log = logging.getLogger(__name__)
WORKSPACE = 1
_RAW = EmailRaw.__table__
_INSERT_RAW = insert(EmailRaw).returning(EmailRaw.id)
_RAW_ID = select(_RAW.c.id).where(_RAW.c.dedupe_key == bindparam("k"))
_DUPLICATES = select(_RAW.c.id, _RAW.c.ticket_id, _RAW.c.dedupe_key).where(
    _RAW.c.dedupe_key.in_(bindparam("keys", expanding=True))
)


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    action: str  # created | appended | ignored
    ticket_id: int | None
    reason: str | None
    raw_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "ticket_id": self.ticket_id, "reason": self.reason}


def dedupe_key(headers: dict[str, str], raw: bytes) -> tuple[str, str | None]:
    """(key, Message-ID). Same Message-ID from the same sender = the same mail (fetched twice,
    or delivered by IMAP and LMTP); no Message-ID = same bytes."""
    mid = first_message_id(headers.get("message-id"))
    if mid is None:
        return "h:" + hashlib.sha256(raw).hexdigest(), None
    sender = parseaddr(headers.get("from", ""))[1].lower()
    return "m:" + hashlib.sha256(f"{sender}\0{mid.lower()}".encode()).hexdigest(), mid


def ingest_bytes(
    ctx: AppContext,
    raw: bytes,
    *,
    source: str,
    mailbox: str = "",
    stored: tuple[str, str] | None = None,
) -> IngestOutcome:
    """Store, then process one raw message. Returns only after the outcome is committed (the
    caller may acknowledge then); raises only when the raw bytes could not be stored.

    Happy path: one transaction writes the ticket message and the `email_raw` row together (the
    raw bytes were fsynced before it). Every other outcome commits an `email_raw` row with its
    final status and reason, so nothing is lost and nothing is acknowledged unstored.
    """
    out = ingest_wave(ctx, [(raw, stored)], source=source, mailbox=mailbox)[0]
    if isinstance(out, Exception):
        raise out
    return out


def ingest_wave(
    ctx: AppContext,
    items: list[tuple[bytes, tuple[str, str] | None]],
    *,
    source: str,
    mailbox: str = "",
) -> list[IngestOutcome | Exception]:
    """Messages that do not depend on each other (`ingest_bytes` is a wave of one; a backlog
    chunk goes in waves, see `backlog.ingest_many`): parsed, looked up as duplicates with one query,
    stored (unless `(storage key, sha256)` says they are), then through intake together — one
    write transaction for the wave (up to intake.MAX_BATCH messages) instead of one per message.
    An Exception answer: that message could not be stored or recorded (the others were)."""
    staged = []
    for raw, stored in items:
        parsed, failure, oversize = _parse(ctx, raw)
        try:
            headers = parsed.headers if parsed else quick_headers(raw)
        except Exception:  # noqa: BLE001 - headers the stdlib cannot read: dedupe by content
            headers = {}
        key, mid = dedupe_key(headers, raw)
        staged.append((raw, stored, parsed, failure, oversize, headers, key, mid))
    with ctx.read() as s:
        found = s.connection().execute(_DUPLICATES, {"keys": sorted({st[6] for st in staged})})
        dups = {r.dedupe_key: r for r in found}
    outcomes: list[IngestOutcome | Exception | None] = [None] * len(items)
    entries: list[tuple[int, _Entry]] = []
    for i, (raw, stored, parsed, failure, oversize, headers, key, mid) in enumerate(staged):
        dup = dups.get(key)
        if dup is not None:
            outcomes[i] = IngestOutcome("ignored", dup.ticket_id, "duplicate", dup.id)
            continue
        try:
            storage_key, digest = stored or store_bytes(ctx.settings.data_dir, "mail", raw)
        except OSError as exc:  # not stored: the caller must not acknowledge this one
            outcomes[i] = exc
            continue
        row = {
            "workspace_id": WORKSPACE,
            "source": source,
            "mailbox": mailbox[:200],
            "sha256": digest,
            "storage_key": storage_key,
            "size": len(raw),
            "message_id": mid,
            "mid_hash": mid_hash(mid) if mid else None,
            "dedupe_key": key,
            "from_addr": (
                parsed.from_addr if parsed else parseaddr(headers.get("from", ""))[1].lower()[:254]
            )
            or None,
            "subject": ctx.redactor.redact(headers.get("subject", "")).text[:500],
        }
        entries.append((i, _Entry(row, raw, parsed, failure, oversize)))
    routed = _route_many(ctx, [e for _, e in entries])
    for (i, _), out in zip(entries, routed, strict=True):
        outcomes[i] = out
    done = [o for o in outcomes if o is not None]
    assert len(done) == len(items)
    return done


def process(ctx: AppContext, raw_id: int) -> IngestOutcome:
    """Process a stored raw message again (replay of quarantine); the row keeps its id."""
    with ctx.read() as s:
        r = s.get(EmailRaw, raw_id)
        if r is None:
            return IngestOutcome("ignored", None, "no such raw message", raw_id)
        raw = read_bytes(ctx.settings.data_dir, r.storage_key)
        row = {"id": r.id}
    out = _route_many(ctx, [_Entry(row, raw, *_parse(ctx, raw))])[0]
    if isinstance(out, Exception):
        raise out
    return out


def _limits(ctx: AppContext) -> ParseLimits:
    return ParseLimits(max_body_bytes=ctx.settings.max_body_bytes - 20_000)


def _parse(ctx: AppContext, raw: bytes) -> tuple[ParsedEmail | None, Exception | None, bool]:
    """(parsed, failure, oversize): a failure is quarantined once the raw is stored."""
    if len(raw) > ctx.settings.email_max_message_bytes:
        return None, None, True
    try:
        return parse_email(raw, _limits(ctx)), None, False
    except Exception as exc:  # noqa: BLE001 - quarantined, after the raw is stored
        return None, exc, False


@dataclass(slots=True)
class _Entry:
    """A stored raw message on its way: its `email_raw` values ({"id": …} on replay)."""

    row: dict[str, Any]
    raw: bytes
    parsed: ParsedEmail | None
    failure: Exception | None
    oversize: bool


def _route_many(ctx: AppContext, entries: list[_Entry]) -> list[IngestOutcome | Exception]:
    """The fate of stored messages that do not depend on each other: quarantine, oversize entry,
    bounce, noise, or a ticket message — those through `intake.receive_many` together. Any error
    quarantines that message only; an Exception answer: its raw row could not be recorded."""
    outcomes: list[IngestOutcome | Exception | None] = [None] * len(entries)
    waiting: list[tuple[int, InboundMessage, str]] = []
    noise: list[tuple[int, str]] = []
    with _Reads(ctx) as reads:  # the threading lookups of the wave share one read session
        for i, e in enumerate(entries):
            try:
                if e.failure is not None:
                    raise e.failure
                if e.oversize:
                    outcomes[i] = _oversize(ctx, e.row, e.raw)
                    continue
                assert e.parsed is not None
                ready = _before_intake(ctx, reads, e.row, e.raw, e.parsed)
                if isinstance(ready, IngestOutcome):
                    outcomes[i] = ready
                elif isinstance(ready, str):
                    noise.append((i, ready))
                else:
                    waiting.append((i, *ready))
            except Exception as exc:  # noqa: BLE001 - quarantine, never lose the mail
                outcomes[i] = _quarantine(ctx, e.row, exc)
    saved = _save_many(ctx, [(entries[i].row, RawStatus.IGNORED, why) for i, why in noise])
    for (i, why), raw_id in zip(noise, saved, strict=True):
        if isinstance(raw_id, Exception):
            outcomes[i] = _quarantine(ctx, entries[i].row, raw_id)
        else:
            outcomes[i] = IngestOutcome("ignored", None, why, raw_id)
    senders = sorted({inbound.email for _, inbound, _ in waiting if inbound.email})
    for _, inbound, _ in waiting:  # the ack limit reads the wave's senders with one query
        inbound.hook_data["ack_senders"] = senders
    results = intake.receive_many(ctx, [inbound for _, inbound, _ in waiting]) if waiting else []
    for (i, inbound, how), result in zip(waiting, results, strict=True):
        e = entries[i]
        try:
            if isinstance(result, Exception):
                outcomes[i] = _quarantine(ctx, e.row, result)
            else:
                assert e.parsed is not None
                outcomes[i] = _after_intake(ctx, e.row, e.parsed, inbound, result, how)
        except Exception as exc:  # noqa: BLE001 - as above
            outcomes[i] = _quarantine(ctx, e.row, exc)
    done = [o for o in outcomes if o is not None]
    assert len(done) == len(entries)
    return done


def _quarantine(ctx: AppContext, row: dict[str, Any], exc: Exception) -> IngestOutcome | Exception:
    reason = _reason(exc)
    log.warning("email quarantined: %s", reason)
    detail = "".join(traceback.format_exception(exc, limit=8))[-4000:]
    try:
        raw_id = _save(ctx, row, RawStatus.QUARANTINED, reason, error=detail)
    except Exception as failed:  # noqa: BLE001 - not recorded: the caller must not acknowledge
        return failed
    return IngestOutcome("ignored", None, f"quarantined: {reason}", raw_id)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ParseError):
        return str(exc)[:400]
    if isinstance(exc, DomainError):
        return exc.message[:400]
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def _save(
    ctx: AppContext,
    row: dict[str, Any],
    status: str,
    reason: str,
    *,
    error: str = "",
    ticket_id: int | None = None,
    message_ref: int | None = None,
) -> int:
    """Commit the raw row with its final status (insert, or update on replay). Returns its id."""
    values = {
        "status": status,
        "reason": reason[:500],
        "error": error,
        "ticket_id": ticket_id,
        "message_ref": message_ref,
        "processed_at": utcnow(),
    }
    with ctx.uow() as uow:
        s = uow.session
        if "id" in row:
            s.execute(
                update(EmailRaw)
                .where(EmailRaw.id == row["id"])
                .values(**values, attempts=EmailRaw.attempts + 1)
            )
            return int(row["id"])
        try:
            with s.begin_nested():
                return int(
                    s.execute(
                        insert(EmailRaw).returning(EmailRaw.id),
                        {**row, **values, "attempts": 1, "received_at": utcnow()},
                    ).scalar_one()
                )
        except IntegrityError:  # a concurrent delivery of the same mail recorded it first
            s.rollback()
            found = s.scalar(select(EmailRaw.id).where(EmailRaw.dedupe_key == row["dedupe_key"]))
            return int(found or 0)


def _save_many(
    ctx: AppContext, records: list[tuple[dict[str, Any], str, str]]
) -> list[int | Exception]:
    """`_save` for several new raw rows (a wave's noise) in one transaction, each under its own
    savepoint; if that transaction fails, one at a time (each gets its id or its error)."""
    if len(records) > 1 and not any("id" in row for row, _, _ in records):
        try:
            with ctx.uow() as uow:
                s = uow.session
                now = utcnow()
                ids: list[int | Exception] = []
                for row, status, reason in records:
                    values = {**row, "status": status, "reason": reason[:500], "error": ""}
                    values.update(processed_at=now, received_at=now, attempts=1)
                    try:
                        with s.begin_nested():
                            ids.append(s.execute(_INSERT_RAW, values).scalar_one())
                    except IntegrityError:  # a concurrent delivery of the same mail came first
                        found = s.scalar(_RAW_ID, {"k": row["dedupe_key"]})
                        ids.append(int(found or 0))
            return ids
        except Exception:  # noqa: BLE001 - fall back to one transaction per row
            log.warning("recording %d raw messages together failed; one at a time", len(records))
    out: list[int | Exception] = []
    for row, status, reason in records:
        try:
            out.append(_save(ctx, row, status, reason))
        except Exception as exc:  # noqa: BLE001 - this row's answer
            out.append(exc)
    return out


def _before_intake(
    ctx: AppContext, reads: _Reads, row: dict[str, Any], raw: bytes, parsed: ParsedEmail
) -> IngestOutcome | str | tuple[InboundMessage, str]:
    """A bounce is recorded here (its outcome returned); noise returns its reason (to be
    recorded); mail for a ticket becomes an inbound message with its threading decided:
    (inbound, how it matched)."""
    if parsed.bounce is not None:
        what = bounces.record_bounce(ctx, parsed.bounce)
        raw_id = _save(ctx, row, RawStatus.IGNORED, f"bounce: {what}")
        return IngestOutcome("ignored", None, f"bounce: {what}", raw_id)
    noise = noise_reason(parsed.headers, parsed.from_addr, own_addresses(ctx))
    if noise:
        return noise  # recorded with the wave's other noise (_save_many)
    inbound = parsed.to_inbound(_idempotency_key(parsed, raw))
    _filter_attachments(ctx, inbound)
    if not inbound.body.strip():
        inbound.body = "(no text)"
    inbound.hook_data["email_raw"] = row
    inbound.hook_data["no_ack"] = suppress_ack(parsed.headers)
    trusted = senderauth.apply(ctx, inbound, senderauth.check(ctx, raw, parsed.from_addr))
    return inbound, _thread(ctx, reads, parsed, inbound, trust_headers=trusted)


def _after_intake(
    ctx: AppContext,
    row: dict[str, Any],
    parsed: ParsedEmail,
    inbound: InboundMessage,
    result: intake.IntakeResult,
    how: str,
) -> IngestOutcome:
    if result.action == "duplicate":
        raw_id = _save(ctx, row, RawStatus.IGNORED, "duplicate", ticket_id=result.ticket_id)
        return IngestOutcome("ignored", result.ticket_id, "duplicate", raw_id)
    # a replayed row keeps its id; a new row's id is not read back (one multi-row INSERT)
    known: int | None = inbound.hook_data.get("email_raw_id")
    if result.had_secret:
        known = _replace_with_redacted(ctx, row, parsed)
    return IngestOutcome(result.action, result.ticket_id, how, known)


def _idempotency_key(parsed: ParsedEmail, raw: bytes) -> str:
    basis = f"{parsed.from_addr}\0{parsed.message_id}" if parsed.message_id else None
    return hashlib.sha256(basis.encode() if basis else raw).hexdigest()[:48]


def _filter_attachments(ctx: AppContext, inbound: InboundMessage) -> None:
    """Keep what the attachment rules allow; say in the body what was left out (and why)."""
    kept: list[InboundAttachment] = []
    notes: list[str] = []
    for att in inbound.attachments:
        try:
            check_attachment(
                att.filename, att.data, att.content_type, ctx.settings.max_attachment_bytes
            )
            kept.append(att)
        except DomainError as exc:
            notes.append(f"[attachment not imported: {exc.message}]")
    inbound.attachments = kept
    if notes:
        inbound.body = inbound.body.rstrip() + "\n\n" + "\n".join(notes)
        inbound.metadata["email"]["notes"] = inbound.metadata["email"]["notes"] + notes


class _Reads:
    """A read session opened on first use and closed at the end of the `with` block."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._session: Session | None = None

    def __enter__(self) -> _Reads:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def scalar(self, stmt: Executable, params: dict[str, Any]) -> Any:
        if self._session is None:
            self._session = self.ctx.read()
        return self._session.connection().execute(stmt, params).scalar()


_OUT, _TK, _CI, _EP = (
    EmailOutbox.__table__,
    Ticket.__table__,
    CustomerIdentity.__table__,
    EmailParticipant.__table__,
)
_SENT_MID = select(_OUT.c.ticket_id).where(_OUT.c.mid_hash == bindparam("h")).limit(1)
_RECEIVED_MID = (
    select(_RAW.c.ticket_id)
    .where(_RAW.c.mid_hash == bindparam("h"), _RAW.c.ticket_id.is_not(None))
    .limit(1)
)
_BY_NUMBER = select(_TK.c.id).where(_TK.c.workspace_id == WORKSPACE, _TK.c.number == bindparam("n"))
_TICKET = select(_TK.c.id).where(_TK.c.id == bindparam("t"), _TK.c.workspace_id == WORKSPACE)
_OWNER = (
    select(_CI.c.id)
    .join(_TK, _TK.c.customer_id == _CI.c.customer_id)
    .where(_TK.c.id == bindparam("t"), _CI.c.kind == "email", _CI.c.value == bindparam("a"))
    .limit(1)
)
_COPIED = (
    select(_EP.c.id)
    .where(
        _EP.c.ticket_id == bindparam("t"),
        _EP.c.address == bindparam("a"),
        _EP.c.active.is_(True),
    )
    .limit(1)
)


def _thread(
    ctx: AppContext,
    reads: _Reads,
    parsed: ParsedEmail,
    inbound: InboundMessage,
    *,
    trust_headers: bool = True,
) -> str:
    """Decide `inbound.ticket_id` (read-only lookups); returns how it matched. Without
    `trust_headers` (unverified sender) only our signed reply token can join a ticket."""
    secret = signing_secret(ctx)
    clues = ThreadClues(
        token_values=parsed.in_reply_to + parsed.references + parsed.recipients,
        in_reply_to=parsed.in_reply_to,
        references=parsed.references,
        subject=parsed.subject,
    )
    sender = parsed.from_addr

    def by_mid(mid: str) -> int | None:
        h = {"h": mid_hash(mid)}
        tid = reads.scalar(_SENT_MID, h)
        return tid if tid is not None else reads.scalar(_RECEIVED_MID, h)  # type: ignore[no-any-return]

    def by_number(number: int) -> int | None:
        return reads.scalar(_BY_NUMBER, {"n": number})  # type: ignore[no-any-return]

    def owns(tid: int) -> bool:
        if not sender or not trust_headers:
            return False
        if reads.scalar(_OWNER, {"t": tid, "a": sender}) is not None:
            return True
        # a participant (Cc) answering the thread, e.g. by reply-all
        return reads.scalar(_COPIED, {"t": tid, "a": sender}) is not None

    match = decide_thread(
        secret, clues, ticket_by_mid=by_mid, ticket_by_number=by_number, sender_owns=owns
    )
    if match.ticket_id is not None and match.how == "token":
        if reads.scalar(_TICKET, {"t": match.ticket_id}) is None:
            match = type(match)(None, "new", match.refused)
    inbound.ticket_id = match.ticket_id
    if match.refused:
        inbound.metadata["email"]["thread_refused"] = match.refused
    return match.how


def _replace_with_redacted(ctx: AppContext, raw: dict[str, Any], parsed: ParsedEmail) -> int:
    """The mail held a secret: keep a redacted rendering instead of the original bytes. `raw` is
    the committed row's id (replay) or its values (found by dedupe key). Returns the row id."""
    red = ctx.redactor
    lines = [
        f"From: {parsed.headers.get('from', '')}",
        f"To: {parsed.headers.get('to', '')}",
        f"Date: {parsed.headers.get('date', '')}",
        f"Subject: {red.redact(parsed.subject).text}",
        f"Message-ID: {parsed.message_id or ''}",
        "X-Paydesk-Redacted: the original held a secret and was not kept",
        "Content-Type: text/plain; charset=utf-8",
        "",
        red.redact(parsed.body).text,
    ]
    if parsed.attachments:
        lines += ["", "Attachments:"] + [
            f"- {a.filename} ({len(a.data)} bytes)" for a in parsed.attachments
        ]
    data = "\r\n".join(lines).encode("utf-8", "replace")
    key, digest = store_bytes(ctx.settings.data_dir, "mail-redacted", data)
    with ctx.uow() as uow:
        s = uow.session
        if "id" in raw:
            row = s.get(EmailRaw, raw["id"])
        else:
            row = s.scalars(select(EmailRaw).where(EmailRaw.dedupe_key == raw["dedupe_key"])).one()
        assert row is not None
        raw_id = row.id
        old_key, old_sha = row.storage_key, row.sha256
        row.storage_key, row.sha256, row.redacted = key, digest, True
        row.size = len(data)
        still_used = s.scalar(
            select(EmailRaw.id).where(
                EmailRaw.sha256 == old_sha, EmailRaw.id != raw_id, EmailRaw.redacted.is_(False)
            )
        )
    if still_used is None:
        try:
            (ctx.settings.data_dir / old_key).unlink()
        except FileNotFoundError:
            pass
    return int(raw_id)


def _oversize(ctx: AppContext, row: dict[str, Any], raw: bytes) -> IngestOutcome:
    """Too large to import: a visible ticket entry from the headers alone and a notice back."""
    headers = quick_headers(raw)
    name, addr = parseaddr(headers.get("from", ""))
    sender = valid_address(addr) if addr else None
    if sender is None:
        raise ParseError(f"oversize message ({len(raw)} bytes) without a valid sender")
    size_mb = round(len(raw) / 1_000_000, 1)
    noise = noise_reason(headers, sender, own_addresses(ctx))
    if noise:
        raw_id = _save(ctx, row, RawStatus.OVERSIZE, f"oversize ({size_mb} MB), {noise}")
        return IngestOutcome("ignored", None, f"oversize, {noise}", raw_id)
    parsed = ParsedEmail(
        message_id=first_message_id(headers.get("message-id")),
        subject=headers.get("subject", ""),
        from_addr=sender,
        from_name=decode_header_value(name) or None,
        headers=headers,
        to=[],
        cc=[],
        in_reply_to=message_ids(headers.get("in-reply-to")),
        references=message_ids(headers.get("references")),
        date=None,
        body=(
            f"[This email ({size_mb} MB) is larger than the "
            f"{ctx.settings.email_max_message_bytes // 1_000_000} MB limit; its content was not "
            f"imported. The sender was notified; supervisors can open the original source.]"
        ),
        body_html=None,
    )
    inbound = parsed.to_inbound(_idempotency_key(parsed, raw))
    inbound.metadata["email"]["oversize_bytes"] = len(raw)
    inbound.hook_data.update(email_raw=row, no_ack=True, raw_status=RawStatus.OVERSIZE)
    auth = senderauth.check(ctx, raw, sender, dkim=False)  # the MTA's results; no body hashing
    trusted = senderauth.apply(ctx, inbound, auth)
    with _Reads(ctx) as reads:
        how = _thread(ctx, reads, parsed, inbound, trust_headers=trusted)
    result = intake.receive(ctx, inbound)
    if result.action == "duplicate":
        raw_id = _save(ctx, row, RawStatus.IGNORED, "duplicate", ticket_id=result.ticket_id)
        return IngestOutcome("ignored", result.ticket_id, "duplicate", raw_id)
    from paydesk.services.email.outbox import queue_oversize_notice

    queue_oversize_notice(ctx, result.ticket_id, sender, parsed.subject, len(raw))
    return IngestOutcome(
        result.action, result.ticket_id, f"oversize ({how})", inbound.hook_data.get("email_raw_id")
    )


def record_raw(
    ctx: AppContext, uow: Any, ticket: Any, message: Any, inbound: InboundMessage
) -> None:
    """after_intake: write the raw row in the intake transaction, tied to its ticket message
    (insert for new mail, deferred into the batch's multi-row INSERT; update when a quarantined
    row is replayed)."""
    row = inbound.hook_data.get("email_raw")
    if row is None:
        return
    status = inbound.hook_data.get("raw_status", RawStatus.PROCESSED)
    values = {
        "status": status,
        "reason": f"oversize ({inbound.metadata['email'].get('oversize_bytes', 0)} bytes)"
        if status == RawStatus.OVERSIZE
        else _unverified_reason(inbound),
        "error": "",
        "ticket_id": ticket.id,
        "message_ref": message.id,
        "processed_at": utcnow(),
    }
    s = uow.session
    if "id" in row:
        s.execute(
            update(EmailRaw)
            .where(EmailRaw.id == row["id"])
            .values(**values, attempts=EmailRaw.attempts + 1)
        )
        inbound.hook_data["email_raw_id"] = row["id"]
    else:
        uow.defer_insert(
            _RAW, {**row, **values, "attempts": 1, "received_at": values["processed_at"]}
        )


def _unverified_reason(inbound: InboundMessage) -> str:
    auth = inbound.hook_data.get("sender_unverified")
    if auth is None:
        return ""
    return ("unverified sender: " + (", ".join(auth.reasons) or "no authentication"))[:500]
