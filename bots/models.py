"""A bot (persona, engine and generation settings) and the widget keys that embed it."""

from __future__ import annotations

import secrets

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from bots.engines.registry import ModelNotAllowed, check_choice


class Engine(models.TextChoices):
    LLAMACPP = "llamacpp", "llama.cpp (bundled SmolLM2 on the CPU, or any GGUF)"
    TRANSFORMERS = "transformers", "transformers (a Hugging Face folder, e.g. Qwen2-Instruct)"
    OPENAI = "openai", "OpenAI-compatible server (vLLM, TGI, llama.cpp server)"


class AnswerStyle(models.TextChoices):
    AUTO = "auto", "By model size: quoted on small models, generated on capable ones"
    QUOTED = "quoted", "Quote the cited passage's relevant sentences (facts never from the model)"
    GENERATED = "generated", "The model writes the answer from the passages"


DEFAULT_PERSONA = (
    "You are a friendly, concise customer-support assistant. Answer the customer's question "
    "helpfully and truthfully. If you do not know, say so."
)


class Bot(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="bots"
    )
    name = models.CharField(max_length=120)
    persona = models.TextField(default=DEFAULT_PERSONA, help_text="The system prompt.")
    greeting = models.CharField(max_length=500, default="Hi! How can I help you today?")
    engine = models.CharField(max_length=20, choices=Engine.choices, default=Engine.LLAMACPP)
    model = models.CharField(
        max_length=500,
        blank=True,
        help_text="GGUF path or HF folder or server model name; blank = the engine's default.",
    )
    max_tokens = models.PositiveIntegerField(
        default=256, validators=[MinValueValidator(1), MaxValueValidator(4096)]
    )
    temperature = models.FloatField(
        default=0.3, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)]
    )
    answer_style = models.CharField(
        max_length=10,
        choices=AnswerStyle.choices,
        default=AnswerStyle.AUTO,
        help_text="How a reply grounded in the knowledge base is written (docs/knowledge.md).",
    )
    answer_words = models.PositiveIntegerField(
        default=120,
        validators=[MinValueValidator(10), MaxValueValidator(1000)],
        help_text="A reply ends at the first sentence end past this many words.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Engine and model must be an operator's registry entry allowed for the org."""
        from django.core.exceptions import ValidationError

        if self.organization_id is None:
            return
        try:
            check_choice(self.organization, self.engine, self.model)
        except ModelNotAllowed as exc:
            raise ValidationError({"model": str(exc)}) from exc


def new_widget_key() -> str:
    return "wk_" + secrets.token_urlsafe(24)


class WidgetKey(models.Model):
    """The public key a website embeds; `allowed_origins` gate the websocket's Origin."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="widget_keys")
    key = models.CharField(max_length=64, unique=True, default=new_widget_key)
    allowed_origins = models.JSONField(
        default=list, blank=True, help_text='Exact origins, e.g. ["https://shop.example"].'
    )
    revoked = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.bot} · {self.key[:10]}…"

    def allows_origin(self, origin: str | None) -> bool:
        return bool(origin) and origin in self.allowed_origins
