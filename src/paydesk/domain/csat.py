"""Satisfaction measures: CSAT ratings and the Net Promoter Score (pure arithmetic).

CSAT is "good" answers over rated answers; a 1–5 answer counts as good at 4 or 5. NPS is the share
of promoters (9–10) minus the share of detractors (0–6), from −100 to +100.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from paydesk.domain.errors import InvalidInput

COMMENT_MAX_CHARS = 2000


class Rating(StrEnum):
    GOOD = "good"
    BAD = "bad"


class Scale(StrEnum):
    BINARY = "binary"  # good / bad
    FIVE = "five"  # 1–5 stars


def parse_answer(
    scale: Scale, rating: str | None, score: str | int | None
) -> tuple[Rating, int | None]:
    """(rating, score) of a submitted answer; `InvalidInput` for anything else.

    On the binary scale a score is ignored; on the five-point scale a score 1–5 is required and
    decides the rating (4–5 good), though a plain good/bad (one-click e-mail link) is accepted too.
    """
    if score not in (None, ""):
        try:
            n = int(score)
        except (TypeError, ValueError):
            raise InvalidInput(
                "the score must be a whole number from 1 to 5", field="score"
            ) from None
        if not 1 <= n <= 5:
            raise InvalidInput("the score must be a whole number from 1 to 5", field="score")
        if scale == Scale.FIVE:
            return (Rating.GOOD if n >= 4 else Rating.BAD), n
    try:
        r = Rating(str(rating or ""))
    except ValueError:
        raise InvalidInput("choose good or bad", field="rating") from None
    return r, None


def clean_comment(text: str | None) -> str:
    """Trimmed comment, at most COMMENT_MAX_CHARS characters, no control characters."""
    value = "".join(ch for ch in (text or "") if ch in "\n\t" or ch >= " ").strip()
    return value[:COMMENT_MAX_CHARS]


def percent(part: int, whole: int) -> float | None:
    """part/whole as a percentage with one decimal; None when nothing to divide."""
    if whole <= 0:
        return None
    return round(100.0 * part / whole, 1)


def parse_nps(score: str | int | None) -> int:
    try:
        n = int(score)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput("choose a number from 0 to 10", field="score") from None
    if not 0 <= n <= 10:
        raise InvalidInput("choose a number from 0 to 10", field="score")
    return n


@dataclass(frozen=True, slots=True)
class NpsSummary:
    responses: int
    promoters: int
    passives: int
    detractors: int

    @property
    def score(self) -> float | None:
        """Promoters % − detractors %, one decimal; None without responses."""
        if self.responses == 0:
            return None
        return round(100.0 * (self.promoters - self.detractors) / self.responses, 1)


def nps_summary(scores: list[int]) -> NpsSummary:
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    return NpsSummary(len(scores), promoters, len(scores) - promoters - detractors, detractors)
