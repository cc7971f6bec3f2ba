from __future__ import annotations

from pathlib import Path

from django.conf import settings


def stored_files() -> set[Path]:
    """Every file in the attachment storage (the filesystem default in the tests)."""
    root = Path(settings.STORAGES["attachments"]["OPTIONS"]["location"])
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()
