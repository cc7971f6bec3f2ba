"""Attachments: OCR time per screenshot, the transcription real-time factor, upload throughput.

```
.venv/bin/python -m bench.attachments [--repeat 5] [--uploads 20]
```

OCR and transcription run in this process through the background worker's own functions
(`memory.attachments.reading`: RapidOCR, PyAV + Whisper tiny.en), pinned to at most 2 CPUs.
Screenshots are rendered by Pillow: an app screen with a title bar, a dialog with an error
line and a few lines of smaller text. Voice notes are espeak-ng sentences (US English, 150
words a minute), encoded as Opus in WebM as the widget's recorder sends them. Uploads go to
a real web process (its own embedded Postgres, .switchboard/bench-attachments) through the
widget's upload URL: checks, Pillow re-encoding and storage included.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import re
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.harness import ORIGIN, _free_port, own_services, stop_postgres, table

CORES = 2
SIZES = [(1280, 720), (1920, 1080)]
SENTENCES = [
    "I forgot my password and cannot log in to my account",
    "my card was blocked at the supermarket this morning, can you help me please",
    "I would like a refund for the payment I made yesterday because the order never arrived",
]


def screenshot(size: tuple[int, int]) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    w, h = size
    image = Image.new("RGB", size, (245, 246, 250))
    draw = ImageDraw.Draw(image)
    big = ImageFont.truetype("DejaVuSans.ttf", max(20, h // 24))
    small = ImageFont.truetype("DejaVuSans.ttf", max(14, h // 45))
    draw.rectangle((0, 0, w, h // 12), fill=(40, 60, 120))
    draw.text((w // 40, h // 40), "Acme Bank - Payments", fill="white", font=small)
    box = (w // 5, h // 4, w * 4 // 5, h * 3 // 4)
    draw.rectangle(box, fill="white", outline=(180, 180, 190), width=2)
    draw.text((box[0] + w // 30, box[1] + h // 20), "Payment declined", fill="black", font=big)
    error_at = (box[0] + w // 30, box[1] + h // 7)
    draw.text(error_at, "Error 0x45: card blocked", fill=(180, 30, 30), font=big)
    for i, line in enumerate(
        [
            "Your card ending 4821 could not be charged.",
            "Reference 7F3K-22Q9, 04/12/2026 14:32",
            "Contact support if this keeps happening.",
        ]
    ):
        draw.text(
            (box[0] + w // 30, box[1] + h // 4 + i * h // 22), line, fill=(60, 60, 60), font=small
        )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def voice_note(text: str) -> tuple[bytes, float]:
    """espeak-ng's sentence as Opus in WebM (what MediaRecorder sends); and its seconds
    (the voice notes of the tests, tests/memory/attachments/files.py)."""
    from memory.attachments.reading import SAMPLE_RATE, decode_audio
    from tests.memory.attachments.files import voice_note as spoken

    data = spoken(text)
    return data, len(decode_audio(data)) / SAMPLE_RATE


def ocr_rows(repeat: int) -> list[list[str]]:
    from memory.attachments.reading import text_of_image

    text_of_image(screenshot((640, 360)))  # loading the models is a once-per-worker cost
    rows = []
    for size in SIZES:
        data = screenshot(size)
        times, text = [], ""
        for _ in range(repeat):
            started = time.perf_counter()
            text = text_of_image(data)
            times.append(time.perf_counter() - started)
        rows.append(
            [
                f"OCR, screenshot {size[0]}x{size[1]}",
                f"{statistics.median(times):.2f} s",
                f"{max(times):.2f} s",
                "yes" if "Error 0x45: card blocked" in text else f"no: {text[:40]!r}",
            ]
        )
        print(" | ".join(rows[-1]), flush=True)
    return rows


def asr_rows() -> list[list[str]]:
    from memory.attachments.reading import transcribe

    transcribe(voice_note("hello")[0])  # load the model
    rows = []
    for sentence in SENTENCES:
        data, seconds = voice_note(sentence)
        started = time.perf_counter()
        heard = transcribe(data)
        spent = time.perf_counter() - started
        words = set(re.findall(r"[a-z0-9']+", sentence.lower()))
        got = words & set(re.findall(r"[a-z0-9']+", heard.lower()))
        rows.append(
            [
                f"transcript, {seconds:.1f} s voice note (WebM/Opus)",
                f"{spent:.2f} s",
                f"RTF {spent / seconds:.2f}",
                f"{len(got)}/{len(words)} words: {heard!r}",
            ]
        )
        print(" | ".join(rows[-1]), flush=True)
    return rows


def upload_rows(count: int) -> list[list[str]]:
    import httpx
    from PIL import Image

    from accounts.models import Organization
    from bots.models import Bot, WidgetKey
    from memory.attachments.services import upload_url
    from memory.conversations.services import open_conversation
    from switchboard import supervisor

    org = Organization.objects.create(name="bench-uploads", slug=f"bench-up-{os.getpid()}")
    bot = Bot.objects.create(organization=org, name="Bench bot")
    WidgetKey.objects.create(bot=bot, allowed_origins=[ORIGIN])
    photo = io.BytesIO()
    noise = Image.effect_noise((2000, 1500), 60).convert("RGB")
    noise.save(photo, "JPEG", quality=90)
    kinds = {
        "PNG screenshot 1280x720": screenshot((1280, 720)),
        "JPEG photo 2000x1500 (noise)": photo.getvalue(),
        "text file 1 MiB": b"My card was blocked at the shop today and I need help.\n" * 19000,
    }
    env = supervisor.child_env()
    env["SWITCHBOARD_UPLOAD_RATE"] = "1000000/m"  # throughput, not the per-address limit
    logs = Path(env["SWITCHBOARD_DATA_DIR"]) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    rows = []
    with open(logs / "bench.log", "ab") as log:
        web = supervisor.start_web("127.0.0.1", port, env=env, log=log)
        try:
            supervisor.wait_http(f"http://127.0.0.1:{port}/healthz", proc=web)
            base = f"http://127.0.0.1:{port}"
            for name, data in kinds.items():
                for parallel in (1, 4):
                    conversations = [
                        open_conversation(bot, os.urandom(12).hex()) for _ in range(parallel)
                    ]
                    urls = [base + upload_url(c) for c in conversations]

                    def post(i: int, data: bytes = data, urls: list[str] = urls) -> float:
                        started = time.perf_counter()
                        answer = httpx.post(
                            urls[i % len(urls)],
                            files={"file": ("f", data)},
                            headers={"Origin": ORIGIN},
                            timeout=120,
                        )
                        assert answer.status_code == 201, answer.text
                        return time.perf_counter() - started

                    started = time.perf_counter()
                    with ThreadPoolExecutor(parallel) as pool:
                        latencies = list(pool.map(post, range(count)))
                    wall = time.perf_counter() - started
                    rows.append(
                        [
                            f"upload, {name}, {len(data) / 1e6:.2f} MB, {parallel} at once",
                            f"{statistics.median(latencies):.2f} s",
                            f"{count / wall:.1f} files/s",
                            f"{count * len(data) / wall / 1e6:.1f} MB/s",
                        ]
                    )
                    print(" | ".join(rows[-1]), flush=True)
        finally:
            supervisor.stop([web])
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="OCR runs per size")
    parser.add_argument("--uploads", type=int, default=20, help="uploads per row")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[:CORES]
        os.sched_setaffinity(0, cpus)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per upload otherwise
    load_before = os.getloadavg()
    own_services("bench-attachments", "switchboard_bench_attachments")
    try:
        rows: list[list[str]] = []
        rows += ocr_rows(args.repeat)
        rows += asr_rows()
        rows += upload_rows(args.uploads)
    finally:
        stop_postgres()
    load_after = os.getloadavg()
    uptime: Any = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(
        f"\nattachments: {len(os.sched_getaffinity(0))} of {os.cpu_count()} CPUs; "
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} ({uptime})"
    )
    print(table(["what", "median", "max / rate", "result"], rows))


if __name__ == "__main__":
    main()
