"""Turn an uploaded or fetched document into sections: heading path, anchor, paragraphs.

One function per format; all return the same `Section` list so chunking does not care
where text came from. FAQ pairs come out as `FaqPair`s instead.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

HEADING_RE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
FENCE_RE = re.compile(r"^\s*(```|~~~)")


@dataclass
class Section:
    path: list[str]  # headings from the top, e.g. ["Cards", "Lost card"]
    anchor: str  # "#lost-card", "page=3" or ""
    paragraphs: list[str] = field(default_factory=list)


@dataclass
class FaqPair:
    question: str
    answer: str


def slugify(text: str) -> str:
    slug = re.sub(r"[^\w\s-]", "", text.lower()).strip()
    return re.sub(r"[\s_-]+", "-", slug)[:200]


def _clean(text: str) -> str:
    return re.sub(r"[ \t\r\f\v]+", " ", text).strip()


def _split_paragraphs(text: str) -> list[str]:
    return [p for p in (_clean(block) for block in re.split(r"\n\s*\n", text)) if p]


def sections_from_markdown(text: str) -> list[Section]:
    sections = [Section(path=[], anchor="")]
    stack: list[tuple[int, str]] = []
    buffer: list[str] = []
    in_fence = False

    def close_paragraph() -> None:
        if buffer:
            paragraph = _clean(" ".join(buffer))
            if paragraph:
                sections[-1].paragraphs.append(paragraph)
            buffer.clear()

    for line in text.splitlines():
        if FENCE_RE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else HEADING_RE.match(line)
        if match:
            close_paragraph()
            level, title = len(match.group(1)), _clean(match.group(2))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title))
            sections.append(Section(path=[t for _, t in stack], anchor=f"#{slugify(title)}"))
        elif not line.strip():
            close_paragraph()
        else:
            # List items and table rows stay lines of their own paragraph.
            stripped = line.strip()
            if re.match(r"^([-*+]|\d+[.)]|\|)\s*", stripped) and buffer:
                close_paragraph()
            buffer.append(stripped)
    close_paragraph()
    return [s for s in sections if s.paragraphs]


class _HtmlSections(HTMLParser):
    SKIP = {"script", "style", "noscript", "template", "svg", "nav", "footer", "head", "form"}
    BLOCK = {"p", "li", "div", "section", "article", "tr", "br", "pre", "blockquote", "dd", "dt"}
    HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections = [Section(path=[], anchor="")]
        self.stack: list[tuple[int, str]] = []
        self.skip_depth = 0
        self.heading: tuple[int, str] | None = None  # level, id
        self.heading_text: list[str] = []
        self.text: list[str] = []
        self.title = ""
        self.in_title = False

    def flush(self) -> None:
        paragraph = _clean(" ".join(self.text))
        if paragraph:
            self.sections[-1].paragraphs.append(paragraph)
        self.text = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        if tag in self.SKIP:
            self.skip_depth += 1
            return
        if self.skip_depth:
            return
        if tag in self.HEADINGS:
            self.flush()
            self.heading = (self.HEADINGS[tag], dict(attrs).get("id") or "")
            self.heading_text = []
        elif tag in self.BLOCK:
            self.flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if tag in self.SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if self.skip_depth:
            return
        if tag in self.HEADINGS and self.heading is not None:
            level, element_id = self.heading
            title = _clean(" ".join(self.heading_text))
            self.heading = None
            if title:
                while self.stack and self.stack[-1][0] >= level:
                    self.stack.pop()
                self.stack.append((level, title))
                anchor = f"#{element_id or slugify(title)}"
                self.sections.append(Section(path=[t for _, t in self.stack], anchor=anchor))
        elif tag in self.BLOCK:
            self.flush()

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title += data
        if self.skip_depth:
            return
        if self.heading is not None:
            self.heading_text.append(data)
        else:
            self.text.append(data)


def sections_from_html(html: str) -> tuple[str, list[Section]]:
    """The page's <title> and its sections."""
    parser = _HtmlSections()
    parser.feed(html)
    parser.close()
    parser.flush()
    return _clean(parser.title), [s for s in parser.sections if s.paragraphs]


def sections_from_text(text: str) -> list[Section]:
    return [Section(path=[], anchor="", paragraphs=_split_paragraphs(text))]


def sections_from_pdf(data: bytes) -> list[Section]:
    """One section per page (anchor `page=N`); pypdf's text layer, no OCR."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    sections = []
    for number, page in enumerate(reader.pages, 1):
        paragraphs = _split_paragraphs(page.extract_text() or "")
        if not paragraphs:
            continue
        # PDF text comes line by line; a paragraph of single lines reads better joined.
        sections.append(Section(path=[], anchor=f"page={number}", paragraphs=paragraphs))
    return sections


def faq_pairs(body: str) -> list[FaqPair]:
    """A JSON list of {"question", "answer"} objects, or text in "Q: … / A: …" blocks."""
    stripped = body.strip()
    if stripped.startswith("["):
        items = json.loads(stripped)
        return [
            FaqPair(_clean(str(item["question"])), str(item["answer"]).strip())
            for item in items
            if str(item.get("question", "")).strip() and str(item.get("answer", "")).strip()
        ]
    pairs: list[FaqPair] = []
    question: list[str] | None = None
    answer: list[str] | None = None
    for line in body.splitlines():
        if re.match(r"^\s*Q\s*[:.]", line, re.IGNORECASE):
            if question is not None and answer:
                pairs.append(FaqPair(_clean(" ".join(question)), "\n".join(answer).strip()))
            question, answer = [line.split(":", 1)[-1].strip()], None
        elif re.match(r"^\s*A\s*[:.]", line, re.IGNORECASE) and question is not None:
            answer = [line.split(":", 1)[-1].strip()]
        elif answer is not None:
            answer.append(line.strip())
        elif question is not None:
            question.append(line.strip())
    if question is not None and answer:
        pairs.append(FaqPair(_clean(" ".join(question)), "\n".join(answer).strip()))
    return [p for p in pairs if p.question and p.answer]
