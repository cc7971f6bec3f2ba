"""Files for the attachment tests, made here: screenshots rendered by Pillow, a photo with GPS
in its EXIF, a decompression bomb, an SVG with a script, a polyglot, voice notes spoken by
espeak-ng."""

from __future__ import annotations

import io
import struct
import subprocess
import tempfile
import zipfile
import zlib
from typing import Any

from PIL import Image, ImageDraw, ImageFont


def screenshot(text: str, size: tuple[int, int] = (1280, 720)) -> bytes:
    """A plain app screen with one line of text, as PNG."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, size[0], 60), fill=(40, 60, 120))
    font = ImageFont.truetype("DejaVuSans.ttf", max(24, size[1] // 20))
    draw.text((size[0] // 12, size[1] // 2 - 30), text, fill="black", font=font)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def photo_with_gps() -> bytes:
    image = Image.new("RGB", (320, 240), (200, 120, 40))
    exif = image.getexif()
    exif[0x010F] = "PhoneMaker"  # Make
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (51.0, 30.0, 12.5)  # latitude
    gps[3], gps[4] = "W", (0.0, 7.0, 39.0)  # longitude
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(side: int = 50_000) -> bytes:
    """A real PNG of side x side black pixels (1 bit): a few hundred KB that decode to
    gigabytes."""
    row = b"\x00" * (1 + side // 8)
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row) for _ in range(side)]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", b"".join(parts))
        + _png_chunk(b"IEND", b"")
    )


SVG_WITH_SCRIPT = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>fetch('/steal?c='+document.cookie)</script><rect width='10' height='10'/></svg>\n"
)


def zip_archive() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("invoice.exe", b"MZ" + b"\x00" * 200)
    return out.getvalue()


def png_zip_polyglot() -> bytes:
    """A valid PNG that is also a ZIP archive (its central directory at the end)."""
    return screenshot("hello", (200, 100)) + zip_archive()


def voice_note(sentence: str, *, words_per_minute: int = 150) -> bytes:
    """espeak-ng (Debian) saying `sentence`, as Opus in WebM: what the widget's recorder
    (MediaRecorder in chromium) uploads."""
    import av
    import numpy as np

    with tempfile.NamedTemporaryFile(suffix=".wav") as wav:
        subprocess.run(
            ["espeak-ng", "-v", "en-us", "-s", str(words_per_minute), "-w", wav.name, sentence],
            check=True,
        )
        with av.open(wav.name) as source:
            frames = list(source.decode(audio=0))
    samples = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
    return webm_opus(samples, frames[0].sample_rate)


def webm_opus(samples: Any, rate: int) -> bytes:
    """Mono signed 16-bit `samples` at `rate`, encoded as Opus in WebM."""
    import av

    out = io.BytesIO()
    with av.open(out, "w", format="webm") as container:
        stream = container.add_stream("libopus", rate=48000)
        stream.layout = "mono"  # type: ignore[union-attr]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        for chunk in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(chunk):  # type: ignore[union-attr]
                container.mux(packet)
        for packet in stream.encode(None):  # type: ignore[union-attr]
            container.mux(packet)
    return out.getvalue()
