"""The widget's "What we remember" frames (docs/protocol.md): one call per frame, one answer.

Everything acts on the socket's own contact. Reading, exporting or erasing stored memory
needs a verified identity: an anonymous visitor id is a bearer token that can leak (a shared
computer, a copied link, a read of localStorage), so it only sets preferences for the chat.
"""

from __future__ import annotations

from typing import Any

from desk import selectors as desk_selectors
from memory.conversations.models import Contact
from memory.longterm import erasure, preferences, selectors

from .frames import FrameError, MemoryDelete, MemoryExport, MemoryFrame, MemoryList, SetPreferences


def answer_memory_frame(contact_id: int, frame: MemoryFrame) -> tuple[dict[str, Any], bool]:
    """(the frame to send, whether the contact was erased and the socket must close)."""
    contact = Contact.objects.filter(pk=contact_id).first()
    if contact is None:
        return {"type": "memory", "items": [], "preferences": {}, "summaries": []}, True
    if not contact.external_id:
        if not isinstance(frame, SetPreferences):
            raise FrameError(
                "identity_required",
                "stored memory is shown and erased only for a signed-in customer",
            )
        try:
            preferences.set_preferences(contact, frame.values)
        except preferences.InvalidPreference as error:
            raise FrameError("invalid_field", error.detail) from None
        # Echo what this frame set, nothing stored before it.
        listing = selectors.memory_listing(contact_id)["preferences"]
        shown = {name: listing[name] for name in frame.values if name in listing}
        return {"type": "memory", "items": [], "preferences": shown, "summaries": []}, False
    if isinstance(frame, MemoryExport):
        return {"type": "memory.export", "data": desk_selectors.export_contact(contact_id)}, False
    if isinstance(frame, SetPreferences):
        try:
            preferences.set_preferences(contact, frame.values)
        except preferences.InvalidPreference as error:
            raise FrameError("invalid_field", error.detail) from None
    elif isinstance(frame, MemoryDelete):
        if frame.everything:
            erasure.forget_everything(contact, messages=frame.messages)
            if frame.messages:
                return {"type": "memory", "items": [], "preferences": {}, "summaries": []}, True
        elif frame.item_id is not None:
            if not erasure.forget_item(contact, frame.item_id):
                raise FrameError("not_found", "no such memory item")
        elif frame.summary_id is not None:
            if not erasure.forget_summary(contact, frame.summary_id):
                raise FrameError("not_found", "no such conversation summary")
        elif frame.preference is not None:
            erasure.forget_preference(contact, frame.preference)
    else:
        assert isinstance(frame, MemoryList)
    return {"type": "memory", **selectors.memory_listing(contact_id)}, False
