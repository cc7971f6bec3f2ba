"""Test documents: a real PDF written byte by byte, Markdown, HTML, text and FAQ samples."""

from __future__ import annotations

import time

from memory.knowledge.models import Document


def pdf_bytes(pages: list[list[str]]) -> bytes:
    """A valid PDF 1.4 with one Helvetica text line per string, one page per list."""
    objects: list[bytes] = []
    page_ids = []
    font_id = 3
    next_id = 4
    page_objects: list[tuple[int, bytes]] = []
    for lines in pages:
        ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        content_id, page_id = next_id, next_id + 1
        next_id += 2
        page_objects.append(
            (content_id, b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        )
        page_objects.append(
            (
                page_id,
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>"
                % (font_id, content_id),
            )
        )
        page_ids.append(page_id)
    kids = " ".join(f"{i} 0 R" for i in page_ids).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_ids)),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    by_id = dict(page_objects)
    objects += [by_id[i] for i in range(4, next_id)]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


MARKDOWN = """# Travel guide

Everything about using your card abroad.

## Using your card abroad

Your card works in more than 150 countries. Tell us before you travel so that
foreign payments are not flagged as suspicious.

## Cash withdrawals abroad

You can withdraw up to 400 euros a day from any ATM displaying the Visa logo.
A 2 percent fee applies to withdrawals outside the euro area.
"""

HTML = """<!doctype html><html><head><title>Refund policy</title>
<style>body { color: red }</style><script>var ignored = "do not index me";</script></head>
<body><nav>Home | Products</nav>
<h1>Refund policy</h1>
<h2 id="returns">Returning a purchase</h2>
<p>Merchants have 14 days to process a refund once they accept the return of a purchase.</p>
<h2>Disputed refunds</h2>
<p>If the merchant refuses to refund you, open a chargeback dispute from the app.</p>
<footer>Copyright</footer></body></html>"""

TEXT = """Opening hours

Our phone line is open from 8 in the morning to 8 in the evening on weekdays.

On Saturdays the phone line is open from 9 to 1, and on Sundays it is closed."""

FAQ = """Q: How do I change my PIN?
A: Open the app, go to Card settings and choose Change PIN. You can also change it at any ATM.

Q: Can I have two cards on one account?
A: Yes, you can order one additional card for a partner from the Cards tab."""


def wait_until_ingested(document: Document, timeout: float = 120) -> Document:
    """Poll the row until the worker has finished (ready or failed) this revision."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        document.refresh_from_db()
        if document.status in (Document.Status.READY, Document.Status.FAILED):
            return document
        time.sleep(0.2)
    raise AssertionError(f"document {document.pk} still {document.status} after {timeout} s")
