"""Add files, folders or URLs to a bot's knowledge base and show ingestion progress.

    manage.py ingest_knowledge BOT_ID docs/ faq.faq.json --url https://example.com/help
    manage.py ingest_knowledge BOT_ID --status

By default the documents are queued for the `embeddings` worker and the command waits,
drawing a progress bar; `--now` ingests in this process instead (no worker needed).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bots.models import Bot
from memory.knowledge import ingestion, services
from memory.knowledge.models import Document

KINDS = {
    ".md": Document.Kind.MARKDOWN,
    ".markdown": Document.Kind.MARKDOWN,
    ".html": Document.Kind.HTML,
    ".htm": Document.Kind.HTML,
    ".pdf": Document.Kind.PDF,
    ".txt": Document.Kind.TEXT,
}
BAR = 30


def kind_of(path: Path) -> str | None:
    name = path.name.lower()
    if ".faq." in name or name.endswith(".faq"):
        return Document.Kind.FAQ
    return KINDS.get(path.suffix.lower())


class Command(BaseCommand):
    help = "Ingest files, folders and URLs into a bot's knowledge base, with a progress bar."
    queue = True

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("bot", type=int, help="The bot's id.")
        parser.add_argument(
            "paths", nargs="*", help="Files or folders (.md .html .pdf .txt .faq.*)."
        )
        parser.add_argument("--url", action="append", default=[], help="A page to fetch.")
        parser.add_argument("--now", action="store_true", help="Ingest here, not on a worker.")
        parser.add_argument("--no-wait", action="store_true", help="Queue and return.")
        parser.add_argument("--status", action="store_true", help="List the bot's documents.")

    def handle(self, *args: Any, **options: Any) -> None:
        bot = Bot.objects.filter(pk=options["bot"]).first()
        if bot is None:
            raise CommandError(f"no bot {options['bot']}")
        if options["status"]:
            self.show_status(bot)
            return
        self.queue = not options["now"]  # with --now this process ingests; no worker races it
        documents = [*self.add_files(bot, options["paths"]), *self.add_urls(bot, options["url"])]
        if not documents:
            raise CommandError("nothing to ingest")
        if options["now"]:
            for document in documents:
                label = document.key or document.title

                def progress(done: int, total: int, label: str = label) -> None:
                    self.bar(label, done, total)

                ingestion.ingest_document(document.pk, progress=progress)
                self.stdout.write("")
        elif not options["no_wait"]:
            self.wait(documents)
        self.show_status(bot, [d.pk for d in documents])

    def add_files(self, bot: Bot, paths: list[str]) -> list[Document]:
        files: list[Path] = []
        for raw in paths:
            path = Path(raw)
            if path.is_dir():
                files += sorted(p for p in path.rglob("*") if p.is_file() and kind_of(p))
            elif path.is_file() and kind_of(path):
                files.append(path)
            else:
                raise CommandError(f"{raw}: not a file of a known type or a folder")
        documents = []
        for path in files:
            kind = kind_of(path)
            assert kind is not None
            title = path.stem.removesuffix(".faq").replace("_", " ").replace("-", " ").strip()
            if kind == Document.Kind.PDF:
                documents.append(
                    services.add_document(
                        bot,
                        kind=kind,
                        title=title,
                        blob=path.read_bytes(),
                        key=path.name,
                        queue=self.queue,
                    )
                )
            else:
                text = path.read_text(encoding="utf-8", errors="replace")
                documents.append(
                    services.add_document(
                        bot, kind=kind, title=title, body=text, key=path.name, queue=self.queue
                    )
                )
        return documents

    def add_urls(self, bot: Bot, urls: list[str]) -> list[Document]:
        return [
            services.add_document(
                bot, kind=Document.Kind.URL, title=url, source_url=url, key=url, queue=self.queue
            )
            for url in urls
        ]

    def bar(self, label: str, done: int, total: int) -> None:
        share = done / total if total else 1.0
        filled = int(BAR * share)
        self.stdout.write(
            f"\r[{'#' * filled}{'.' * (BAR - filled)}] {share:4.0%} {label} {done}/{total} chunks",
            ending="",
        )
        self.stdout.flush()

    def wait(self, documents: list[Document], timeout: float = 3600) -> None:
        ids = [d.pk for d in documents]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = list(Document.objects.filter(pk__in=ids))
            finished = sum(
                r.status in (Document.Status.READY, Document.Status.FAILED) for r in rows
            )
            done = sum(r.chunks_done for r in rows)
            total = sum(r.chunks_total for r in rows)
            label = f"{finished}/{len(ids)} documents"
            if finished == len(ids):
                self.bar(label, total, total)
                self.stdout.write("")
                return
            self.bar(label, done, max(total, 1))
            time.sleep(0.5)
        raise CommandError("timed out waiting for the embeddings worker")

    def show_status(self, bot: Bot, ids: list[int] | None = None) -> None:
        documents = Document.objects.filter(bot=bot).order_by("key", "pk")
        if ids is not None:
            documents = documents.filter(pk__in=ids)
        for d in documents:
            line = f"{d.pk:>6}  {d.status:<8} {d.progress:<16} {d.kind:<8} {d.key or d.title}"
            self.stdout.write(line + (f"  ({d.error})" if d.error else ""))
