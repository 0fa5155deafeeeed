"""HTML mail → readable plain text (for the timeline, search and redaction).

A small streaming converter on the stdlib parser: block elements become line breaks, lists get
bullets, links keep their target, <script>/<style>/<head> are dropped, blockquotes are quoted
with "> " so quoted-history folding works on HTML-only mail too. Linear time.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK = {
    "p",
    "div",
    "section",
    "article",
    "header",
    "footer",
    "table",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "pre",
    "hr",
    "center",
}
_SKIP = {"script", "style", "head", "title", "template", "noscript"}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.quote = 0
        self.pre = 0
        self.href: list[str | None] = []

    def _nl(self) -> None:
        self.out.append("\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag == "br":
            self._nl()
        elif tag == "li":
            self._nl()
            self.out.append("- ")
        elif tag in ("td", "th"):
            self.out.append("\t")
        elif tag == "blockquote":
            self.quote += 1
            self._nl()
        elif tag == "a":
            self.href.append(dict(attrs).get("href"))
        elif tag in _BLOCK:
            if tag == "pre":
                self.pre += 1
            self._nl()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "blockquote":
            self.quote = max(0, self.quote - 1)
            self._nl()
        elif tag == "a":
            href = self.href.pop() if self.href else None
            if href and href.startswith(("http://", "https://", "mailto:")):
                target = href.removeprefix("mailto:")
                if not self.out or target not in self.out[-1]:
                    self.out.append(f" <{target}>")
        elif tag in _BLOCK:
            if tag == "pre":
                self.pre = max(0, self.pre - 1)
            self._nl()

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if not self.pre:
            data = re.sub(r"\s+", " ", data)
        if self.quote:
            data = data.replace("\n", "\n" + "> " * self.quote)
            if not self.out or self.out[-1].endswith("\n"):
                data = "> " * self.quote + data.lstrip()
        self.out.append(data)


def html_to_text(html: str) -> str:
    p = _Text()
    try:
        p.feed(html)
        p.close()
    except Exception:  # noqa: BLE001 - the stdlib parser is lenient; never fail a mail on markup
        return re.sub(r"<[^>]{0,2000}>", " ", html)
    text = "".join(p.out).replace("\xa0", " ")
    lines = [ln.rstrip() for ln in text.split("\n")]
    text = "\n".join(ln.lstrip(" ") if not ln.startswith(">") else ln for ln in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
