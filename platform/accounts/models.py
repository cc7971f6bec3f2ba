"""The tenant (organization) and who belongs to it, with which role."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Names from the operator's model registry (settings.MODELS) its bots may use; empty:
    # every entry. Set by the operator (superuser), never by the tenant.
    allowed_models = models.JSONField(default=list, blank=True)
    # Attachments (docs/attachments.md): files and their rows are deleted this many days
    # after upload by beat's `delete_expired_attachments`; empty: the installation's default
    # (SWITCHBOARD_ATTACHMENT_RETENTION_DAYS), 0: kept until the customer is erased.
    attachment_retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Delete attachments this many days after upload (empty: the server's "
        "default; 0: keep them).",
    )

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in one organization; a user may belong to several."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        AGENT = "agent", "Agent"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.AGENT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.role} of {self.organization_id}"
