"""Each engine for real, through the registry the model worker uses (bots.engines.get_engine).

llama.cpp runs the bundled SmolLM2; transformers loads a tiny random Qwen2 folder built by
the fixture; the OpenAI-compatible engine talks to llama-cpp-python's own server.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from bots.engines import ChatMessage, EngineError, Usage, get_engine
from bots.engines.llamacpp import bundled_model_path
from bots.engines.openai_compat import OpenAICompatEngine
from memory.conversations.models import Message
from tests.bots.conftest import build_tiny_qwen2
from tests.conftest import (
    LOG_DIR,
    OPENAI_TEST_API_KEY,
    LivePlatform,
    make_bot,
    make_widget_key,
    new_visitor_id,
)
from tests.widget_client import WidgetClient, is_final_reply

QUESTION: list[ChatMessage] = [
    {"role": "system", "content": "You are a helpful support assistant. Answer briefly."},
    {"role": "user", "content": "How do I reset my password?"},
]


def chatml(messages: list[ChatMessage]) -> str:
    """The prompt text a ChatML template renders, with the assistant turn opened."""
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n"


def generate(engine_kind: str, model: str = "", max_tokens: int = 32) -> tuple[list[str], Usage]:
    engine = get_engine(engine_kind, model)
    usage = Usage()
    pieces = list(engine.stream(QUESTION, max_tokens=max_tokens, temperature=0.0, usage=usage))
    return pieces, usage


# llama.cpp (the default CPU engine)


def test_llamacpp_streams_the_bundled_smollm2_in_pieces_and_counts_usage() -> None:
    pieces, usage = generate("llamacpp", max_tokens=32)

    assert len(pieces) >= 5, "the reply arrives as a stream of pieces, not in one block"
    assert "".join(pieces).strip()
    assert usage.completion_tokens == len(pieces)
    assert usage.prompt_tokens >= get_engine("llamacpp").count_tokens(QUESTION[1]["content"])
    assert usage.ttft_s is not None and 0 < usage.ttft_s < 30
    assert get_engine("llamacpp").model_name == "SmolLM2-135M-Instruct.Q4_1"


def test_llamacpp_applies_the_models_chatml_template_so_replies_end_on_their_own() -> None:
    engine = get_engine("llamacpp")
    template = engine._llm.metadata["tokenizer.chat_template"]  # type: ignore[attr-defined]
    assert "<|im_start|>" in template and "<|im_end|>" in template

    usage = Usage()
    messages: list[ChatMessage] = [
        {"role": "system", "content": "Answer with one short sentence."},
        {"role": "user", "content": "Say hello."},
    ]
    text = "".join(engine.stream(messages, max_tokens=200, temperature=0.0, usage=usage))

    # Through the template the model closes its turn (<|im_end|>) well before the budget,
    # and none of the template's markers or a made-up next turn leak into the reply.
    assert text.strip() and usage.completion_tokens < 200
    assert "<|im_" not in text and "\nuser\n" not in text


def test_llamacpp_prompt_beyond_the_context_window_is_a_permanent_error() -> None:
    engine = get_engine("llamacpp")
    too_long: list[ChatMessage] = [{"role": "user", "content": "account " * 3000}]
    with pytest.raises(EngineError) as caught:
        list(engine.stream(too_long, max_tokens=16, temperature=0.0, usage=Usage()))
    assert caught.value.permanent


@pytest.mark.parametrize("name", ["missing.gguf", "notes.txt", "garbage.gguf"])
def test_llamacpp_missing_or_unloadable_model_file_is_a_permanent_error(
    tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    if name != "missing.gguf":
        path.write_bytes(b"this is not a model" * 100)
    with pytest.raises(EngineError) as caught:
        get_engine("llamacpp", str(path))
    assert caught.value.permanent


def test_unknown_engine_kind_is_a_permanent_error() -> None:
    with pytest.raises(EngineError) as caught:
        get_engine("no-such-engine")
    assert caught.value.permanent


# transformers (a Hugging Face folder; a tiny random Qwen2 here)


def test_transformers_streams_from_a_local_qwen2_folder_through_its_chat_template(
    tiny_qwen2: Path,
) -> None:
    pieces, usage = generate("transformers", str(tiny_qwen2), max_tokens=24)
    engine = get_engine("transformers", str(tiny_qwen2))

    assert len(pieces) >= 2 and "".join(pieces)
    assert 1 <= usage.completion_tokens <= 24
    # The prompt the model saw is the ChatML rendering of the conversation, token for token.
    assert usage.prompt_tokens == engine.count_tokens(chatml(QUESTION))
    assert usage.ttft_s is not None
    assert engine.model_name == tiny_qwen2.name
    assert engine.context_tokens == 1024, "capped at the model's max_position_embeddings"


def test_transformers_folder_without_chat_template_or_missing_is_a_permanent_error(
    tmp_path: Path,
) -> None:
    bare = build_tiny_qwen2(tmp_path / "no-template", chat_template=False)
    assert not (bare / "chat_template.jinja").exists()
    for model in (str(bare), str(tmp_path / "nowhere"), ""):
        with pytest.raises(EngineError) as caught:
            get_engine("transformers", model)
        assert caught.value.permanent, model


# OpenAI-compatible servers (llama-cpp-python's server here)


def test_openai_engine_streams_from_an_openai_compatible_server(
    openai_server: str, settings: SettingsWrapper
) -> None:
    settings.OPENAI_BASE_URL = openai_server
    settings.OPENAI_API_KEY = OPENAI_TEST_API_KEY
    pieces, usage = generate("openai", "smollm2-via-server", max_tokens=32)

    assert len(pieces) >= 5 and "".join(pieces).strip()
    assert usage.completion_tokens == len(pieces)
    assert usage.prompt_tokens > 0 and usage.ttft_s is not None
    assert get_engine("openai", "smollm2-via-server").model_name == "smollm2-via-server"


def test_openai_engine_without_a_base_url_is_a_permanent_error(settings: SettingsWrapper) -> None:
    settings.OPENAI_BASE_URL = ""
    with pytest.raises(EngineError) as caught:
        get_engine("openai", "unconfigured")
    assert caught.value.permanent


def _stream(engine: OpenAICompatEngine, messages: list[ChatMessage] = QUESTION) -> list[str]:
    return list(engine.stream(messages, max_tokens=8, temperature=0.0, usage=Usage()))


def test_openai_engine_wrong_api_key_or_wrong_path_is_a_permanent_error(
    openai_server: str,
) -> None:
    wrong_key = OpenAICompatEngine("m", base_url=openai_server, api_key="wrong")
    with pytest.raises(EngineError, match="401") as caught:
        _stream(wrong_key)
    assert caught.value.permanent

    no_v1 = OpenAICompatEngine(
        "m", base_url=openai_server.removesuffix("/v1"), api_key=OPENAI_TEST_API_KEY
    )
    with pytest.raises(EngineError, match="404") as caught:
        _stream(no_v1)
    assert caught.value.permanent


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_openai_engine_server_down_is_a_retryable_error(closed_port: int) -> None:
    engine = OpenAICompatEngine("m", base_url=f"http://127.0.0.1:{closed_port}/v1")
    with pytest.raises(EngineError, match="unreachable") as caught:
        _stream(engine)
    assert not caught.value.permanent


@pytest.fixture
def full_listener() -> Iterator[int]:
    """A port whose accept queue is full: new connections hang in the handshake."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield port
    finally:
        for sock in [*fillers, listener]:
            sock.close()


def test_openai_engine_connect_timeout_is_a_retryable_error(full_listener: int) -> None:
    engine = OpenAICompatEngine(
        "m", base_url=f"http://127.0.0.1:{full_listener}/v1", connect_timeout=0.3
    )
    with pytest.raises(EngineError, match="timed out") as caught:
        _stream(engine)
    assert not caught.value.permanent


def test_openai_engine_server_that_never_answers_is_a_retryable_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts connections (the kernel does), never reads or answers
        engine = OpenAICompatEngine(
            "m", base_url=f"http://127.0.0.1:{silent.getsockname()[1]}/v1", read_timeout=0.5
        )
        with pytest.raises(EngineError, match="timed out") as caught:
            _stream(engine)
    assert not caught.value.permanent


def test_openai_engine_stream_cut_by_the_server_is_an_error_not_an_empty_reply(
    openai_server: str,
) -> None:
    # llama.cpp's server answers 200, then drops the stream when the prompt overflows its
    # context: that must not pass for a finished (empty) reply.
    engine = OpenAICompatEngine("m", base_url=openai_server, api_key=OPENAI_TEST_API_KEY)
    with pytest.raises(EngineError) as caught:
        _stream(engine, [{"role": "user", "content": "account " * 3000}])
    assert not caught.value.permanent


def _open_streams_to(port: int) -> int:
    """TCP connections to 127.0.0.1:`port` that are open now, seen from the kernel."""
    open_now = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state = fields[2], fields[3]
        if remote == f"0100007F:{port:04X}" and state == "01":  # ESTABLISHED
            open_now += 1
    return open_now


def test_openai_engine_streams_eight_requests_at_once_from_one_engine(openai_server: str) -> None:
    engine = OpenAICompatEngine("m", base_url=openai_server, api_key=OPENAI_TEST_API_KEY)
    port = int(openai_server.rsplit(":", 1)[1].split("/")[0])
    results: dict[int, tuple[str, Usage]] = {}
    errors: list[BaseException] = []

    def ask(index: int) -> None:
        usage = Usage()
        question: list[ChatMessage] = [
            QUESTION[0],
            {"role": "user", "content": f"Customer {index}: how do I reset my password?"},
        ]
        try:
            text = "".join(engine.stream(question, max_tokens=16, temperature=0.0, usage=usage))
            results[index] = (text, usage)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    most_open = 0
    while any(t.is_alive() for t in threads):
        most_open = max(most_open, _open_streams_to(port))
        time.sleep(0.01)
    for thread in threads:
        thread.join()

    assert not errors, errors
    # All eight were open at once on the one engine (its client pools connections); the
    # server (llama-cpp-python's, one model) answers them in turn, each to the end.
    assert most_open >= 8, most_open
    assert sorted(results) == list(range(8))
    for text, usage in results.values():
        assert text.strip() and 1 <= usage.completion_tokens <= 16


def test_openai_engine_closing_a_stream_makes_the_server_stop_generating(
    openai_server: str,
) -> None:
    """A takeover or a time limit closes the generator: the HTTP stream is closed, and the
    server notices the client gone and stops (its log says so), free for the next request."""
    engine = OpenAICompatEngine("m", base_url=openai_server, api_key=OPENAI_TEST_API_KEY)
    server_log = LOG_DIR / "openai-server.log"
    before = server_log.read_text(errors="replace").count("Disconnected from client")
    story: list[ChatMessage] = [
        {"role": "user", "content": "Write a very long story about a lighthouse keeper."}
    ]
    pieces = engine.stream(story, max_tokens=1500, temperature=0.0, usage=Usage())
    got = [next(pieces) for _ in range(3)]
    pieces.close()
    assert all(got)

    deadline = time.monotonic() + 20
    while server_log.read_text(errors="replace").count("Disconnected from client") == before:
        assert time.monotonic() < deadline, "the server went on generating"
        time.sleep(0.1)
    # The next customer's request is answered.
    pieces_after, usage = [], Usage()
    for piece in engine.stream(QUESTION, max_tokens=8, temperature=0.0, usage=usage):
        pieces_after.append(piece)
    assert "".join(pieces_after).strip()


# End to end: a bot on the openai engine, through the live `llm` worker and the widget socket


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_bot_on_the_openai_engine_answers_through_the_worker_and_the_widget_socket(
    openai_server: str, live_platform: LivePlatform
) -> None:
    bot = make_bot(engine="openai", model="smollm2-served", max_tokens=48)
    key = make_widget_key(bot)
    client = WidgetClient(live_platform.ws_url, key.key, new_visitor_id())
    client.resume(0)

    client.send({"type": "message", "client_id": "o1", "text": "How do I reset my password?"})
    frames = client.recv_until(is_final_reply, timeout=90)
    client.close()

    final = frames[-1]["message"]
    deltas = [f for f in frames if f["type"] == "reply.delta"]
    assert final["status"] == "final", final
    assert len(deltas) >= 2
    assert "".join(d["text"] for d in deltas).strip() == final["text"]
    stored = Message.objects.get(pk=final["id"])
    assert stored.model_name == "smollm2-served"
    assert stored.completion_tokens and stored.prompt_tokens
    assert stored.engine_ttft_ms is not None


def test_bundled_model_is_the_smollm2_gguf() -> None:
    path = bundled_model_path()
    assert path.is_file() and path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"


# The operator's registry and the engine cache (issue #11, item 10)


def test_the_engine_cache_is_keyed_by_the_resolved_path_and_closes_the_least_recently_used(
    tmp_path: Path, settings: SettingsWrapper
) -> None:
    settings.LLM_ENGINE_CACHE = 1
    bundled = bundled_model_path()
    alias = tmp_path / "alias.gguf"
    alias.symlink_to(bundled)
    dotted = bundled.parent / ".." / bundled.parent.name / bundled.name
    first = get_engine("llamacpp", str(bundled))
    assert get_engine("llamacpp", str(alias)) is first
    assert get_engine("llamacpp", str(dotted)) is first

    closed: list[str] = []
    real_close = first.close  # type: ignore[attr-defined]

    def recording_close() -> None:
        closed.append("first")
        real_close()

    first.close = recording_close  # type: ignore[attr-defined]
    default = get_engine("llamacpp")  # another entry: only one may stay loaded
    assert closed == ["first"], "the least recently used engine was closed"
    assert get_engine("llamacpp") is default
    assert get_engine("llamacpp", str(alias)) is not first  # loaded again, fresh


@pytest.mark.django_db
def test_a_bot_may_only_use_the_operators_models_allowed_for_its_organization() -> None:
    from django.core.exceptions import ValidationError
    from django.test import Client

    from bots.engines.registry import engine_for_bot
    from bots.models import Bot
    from tests.api.factories import bearer, make_tenant

    tenant = make_tenant()
    client, auth = Client(), bearer(tenant.write_key)

    def create(engine: str, model: str) -> int:
        return client.post(
            "/api/bots",
            data={"name": "b", "engine": engine, "model": model},
            content_type="application/json",
            **auth,
        ).status_code

    # The tenant cannot point the worker at a file or a model of its own choosing.
    assert create("llamacpp", "/etc/passwd") == 422
    assert create("transformers", "/srv/other-tenant/model") == 422
    assert create("openai", "gpt-4o") == 422
    assert create("llamacpp", "") == 201
    assert create("openai", "smollm2-served") == 201
    patch = client.patch(
        f"/api/bots/{tenant.bot.pk}",
        data={"model": "../../../../tmp/evil.gguf"},
        content_type="application/json",
        **auth,
    )
    assert patch.status_code == 422
    assert patch.json()["error"]["code"] == "invalid"

    # The admin's forms run the same check (ModelForm → full_clean → Bot.clean).
    with pytest.raises(ValidationError):
        Bot(organization=tenant.org, name="x", engine="llamacpp", model="/tmp/x.gguf").full_clean()

    # The operator narrows an organization to one entry.
    tenant.org.allowed_models = ["smollm2-served"]
    tenant.org.save(update_fields=["allowed_models"])
    assert create("llamacpp", "") == 422
    assert create("openai", "smollm2-served") == 201

    # A row written around both (a raw UPDATE) is still refused when the worker loads it.
    Bot.objects.filter(pk=tenant.bot.pk).update(engine="llamacpp", model="/etc/passwd")
    with pytest.raises(EngineError) as refused:
        engine_for_bot(Bot.objects.select_related("organization").get(pk=tenant.bot.pk))
    assert refused.value.permanent


@pytest.mark.django_db
def test_the_admin_refuses_a_model_outside_the_registry_and_only_superusers_set_allow_lists() -> (
    None
):
    from django.contrib import admin
    from django.contrib.auth.models import Permission, User
    from django.forms.models import model_to_dict
    from django.test import RequestFactory

    from accounts.models import Membership, Organization
    from bots.models import Bot
    from tests.conftest import make_bot

    bot = make_bot()
    staff = User.objects.create_user("staff-models", password="pw-staff-1", is_staff=True)
    staff.user_permissions.set(
        Permission.objects.filter(
            codename__in=["view_bot", "change_bot", "view_organization", "change_organization"]
        )
    )
    Membership.objects.create(user=staff, organization=bot.organization, role="admin")
    request = RequestFactory().post("/admin/bots/bot/")
    request.user = staff

    bot_admin = admin.site._registry[Bot]
    form_class = bot_admin.get_form(request, bot, change=True)
    data = {**model_to_dict(bot), "model": "/etc/passwd"}
    form = form_class(data=data, instance=bot)
    assert not form.is_valid()
    assert "model" in form.errors
    data["model"] = ""
    assert form_class(data=data, instance=bot).is_valid()

    org_admin = admin.site._registry[Organization]
    assert "allowed_models" in org_admin.get_readonly_fields(request, bot.organization)
    request.user = User.objects.create_superuser("operator", password="pw-operator-1")
    assert "allowed_models" not in org_admin.get_readonly_fields(request, bot.organization)
