"""The wire protocol parser (pure): every bad frame has a clear, stable error code."""

from __future__ import annotations

import pytest

from paydesk.channels.chat import MAX_FRAME_BYTES, ProtocolError, parse_frame


def code(raw: str | bytes, role: str = "visitor") -> tuple[str, bool]:
    with pytest.raises(ProtocolError) as info:
        parse_frame(raw, role)
    return info.value.code, info.value.fatal


def test_valid_frames() -> None:
    f = parse_frame('{"type":"send","client_id":"c-1","body":"你好"}', "visitor")
    assert (f.type, f.data["body"]) == ("send", "你好")
    assert parse_frame('{"type":"hello","token":"t"}', "visitor").data["last_seq"] == 0
    w = parse_frame('{"type":"watch","session":"abc","after":3}', "agent")
    assert w.session == "abc" and w.data["after"] == 3


def test_bad_frames() -> None:
    assert code("{not json") == ("bad_json", False)
    assert code("[1,2]") == ("bad_frame", False)
    assert code('{"type":"subscribe","session":"x"}') == ("unknown_type", False)
    assert code('{"type":"accept","session":"x"}') == ("unknown_type", False)  # agents only
    assert code('{"type":"send","client_id":"a b","body":"x"}')[0] == "bad_field"
    assert code('{"type":"send","client_id":"a","body":"   "}')[0] == "bad_field"
    assert code('{"type":"send","client_id":"a","body":"' + "x" * 4001 + '"}')[0] == "too_long"
    assert code('{"type":"hello","token":"t","last_seq":-1}')[0] == "bad_field"
    assert code('{"type":"hello","token":"t","last_seq":true}')[0] == "bad_field"
    assert code('{"type":"presence","status":"busy"}', "agent")[0] == "bad_field"
    assert code('{"type":"send","client_id":"a","body":"x"}', "agent")[0] == "bad_field"


def test_oversize_frame_is_fatal() -> None:
    raw = '{"type":"send","client_id":"a","body":"' + "x" * MAX_FRAME_BYTES + '"}'
    assert code(raw) == ("frame_too_large", True)
