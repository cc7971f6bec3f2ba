"""Deciding whether an uploaded file may be kept, and making the copy that is kept.

The type comes from the content (libmagic), never from the name or the declared type; a
file that also parses as something else (a polyglot), an image over the pixel cap and
anything not on the list is refused with a reason. Images are re-encoded by Pillow, which
drops EXIF (GPS included) and anything hidden around the pixels.
"""

from __future__ import annotations

import io
import re
import unicodedata
import warnings
from dataclasses import dataclass

import magic
from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

# Sniffed type -> (kind, extension, the type it is served as).
ALLOWED: dict[str, tuple[str, str, str]] = {
    "image/png": ("image", "png", "image/png"),
    "image/jpeg": ("image", "jpg", "image/jpeg"),
    "image/webp": ("image", "webp", "image/webp"),
    "image/gif": ("image", "gif", "image/gif"),
    "application/pdf": ("pdf", "pdf", "application/pdf"),
    "text/plain": ("text", "txt", "text/plain; charset=utf-8"),
    "audio/webm": ("audio", "webm", "audio/webm"),
    "video/webm": ("audio", "webm", "audio/webm"),  # a recorder's webm; must hold audio only
    "audio/ogg": ("audio", "ogg", "audio/ogg"),
    "application/ogg": ("audio", "ogg", "audio/ogg"),
    "audio/x-wav": ("audio", "wav", "audio/wav"),
    "audio/wav": ("audio", "wav", "audio/wav"),
    "audio/vnd.wave": ("audio", "wav", "audio/wav"),
}
ALLOWED_NAMES = "PNG, JPEG, WebP, GIF, PDF, plain text, and WebM, Ogg or WAV audio"
PILLOW_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}

# Another format's signature inside a file of an allowed type: the file is two things at
# once (a PNG that is also a ZIP, an image that is also a page with a script).
FOREIGN_MARKERS = (
    b"pk\x03\x04",
    b"pk\x05\x06",
    b"<script",
    b"<html",
    b"<svg",
    b"<?php",
    b"<!doctype",
    b"<iframe",
    b"javascript:",
)
# Active content a PDF may carry: refused rather than stored.
PDF_ACTIVE = re.compile(rb"/(JavaScript|JS|Launch|EmbeddedFile|OpenAction|AA|RichMedia)\b")
CONTAINER_SIGNATURES = {
    "webm": (0, b"\x1aE\xdf\xa3"),
    "ogg": (0, b"OggS"),
    "wav": (8, b"WAVE"),
    "pdf": (0, b"%PDF-"),
}


class Refused(Exception):
    """The upload is not kept; `detail` is said to the sender as it is."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Checked:
    kind: str
    extension: str
    content_type: str
    data: bytes  # what is stored: the re-encoded image, or the file as sent
    name: str
    width: int | None = None
    height: int | None = None


def clean_name(name: str, extension: str) -> str:
    """A display name: the last path part, no control or direction characters, the
    extension of the sniffed type (never the sender's), at most 100 characters."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", name or ""))[-1]
    base = "".join(c for c in base if unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp"))
    stem = base.rsplit(".", 1)[0] if "." in base else base
    stem = re.sub(r"\s+", " ", stem).strip(" .")[:90] or "attachment"
    return f"{stem}.{extension}"


def _sniff(data: bytes) -> str:
    return str(magic.from_buffer(data[:65536], mime=True))


def check_upload(data: bytes, name: str) -> Checked:
    """The copy to store, or `Refused` saying why."""
    if not data:
        raise Refused("empty", "the file is empty")
    if len(data) > settings.ATTACHMENT_MAX_BYTES:
        raise Refused(
            "too_large",
            f"the file is {len(data) // 1024} KB; the limit is "
            f"{settings.ATTACHMENT_MAX_BYTES // 1024} KB",
        )
    sniffed = _sniff(data)
    if sniffed not in ALLOWED:
        raise Refused(
            "type_not_allowed",
            f"files of this type ({sniffed}) cannot be sent; allowed: {ALLOWED_NAMES}",
        )
    kind, extension, content_type = ALLOWED[sniffed]
    signature = CONTAINER_SIGNATURES.get(extension)
    if signature and data[signature[0] : signature[0] + len(signature[1])] != signature[1]:
        # libmagic finds some formats past the start; a file that does not start as one is
        # something else with that format hidden inside.
        raise Refused("polyglot", "the file does not start as the type it contains; refused")
    if kind == "text":
        return _check_text(data, name)
    lowered = data.lower()
    for marker in FOREIGN_MARKERS:
        if marker in lowered:
            raise Refused(
                "polyglot",
                "the file also contains another kind of file (a script, a page or an "
                "archive); refused",
            )
    if kind == "pdf":
        if PDF_ACTIVE.search(data):
            raise Refused("active_content", "the PDF carries scripts or embedded files; refused")
        return Checked(kind, extension, content_type, data, clean_name(name, extension))
    if kind == "image":
        return _reencode_image(data, name)
    return Checked(kind, extension, content_type, data, clean_name(name, extension))


def _check_text(data: bytes, name: str) -> Checked:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("type_not_allowed", "a text file must be UTF-8") from None
    if "\x00" in text:
        raise Refused("type_not_allowed", "a text file may not contain NUL characters")
    return Checked("text", "txt", ALLOWED["text/plain"][2], data, clean_name(name, "txt"))


def _reencode_image(data: bytes, name: str) -> Checked:
    """Decode within the pixel cap and encode afresh: only the pixels survive."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            width, height = image.size  # from the header, before any pixel is decoded
            if width * height > settings.ATTACHMENT_MAX_PIXELS:
                raise Refused(
                    "too_many_pixels",
                    f"the image is {width} x {height} pixels; the limit is "
                    f"{settings.ATTACHMENT_MAX_PIXELS:,} pixels",
                )
            extension = PILLOW_FORMATS.get(image.format or "")
            if extension is None:
                raise Refused("type_not_allowed", "images must be PNG, JPEG, WebP or GIF")
            image.seek(0)  # an animation keeps its first frame
            image.load()
            image = ImageOps.exif_transpose(image)  # the pixels the way the camera meant them
            # Nothing of the original's metadata goes along (EXIF, GPS, text chunks, ICC).
            image.info = {k: v for k, v in image.info.items() if k == "transparency"}
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Refused(
            "too_many_pixels",
            f"the image has too many pixels; the limit is {settings.ATTACHMENT_MAX_PIXELS:,}",
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise Refused("corrupt", "the image could not be decoded") from None
    output = io.BytesIO()
    if extension == "jpg":
        image.convert("RGB").save(output, "JPEG", quality=90, optimize=True)
    elif extension == "png":
        clean = (
            image if image.mode in ("RGB", "RGBA", "L", "LA", "P", "1") else image.convert("RGBA")
        )
        clean.save(output, "PNG", optimize=False)
    elif extension == "webp":
        image.convert("RGBA" if "A" in image.mode else "RGB").save(output, "WEBP", quality=90)
    else:
        image.convert("P" if image.mode == "P" else "RGB").save(output, "GIF")
    return Checked(
        "image",
        extension,
        ALLOWED[f"image/{'jpeg' if extension == 'jpg' else extension}"][2],
        output.getvalue(),
        clean_name(name, extension),
        width=image.width,
        height=image.height,
    )
