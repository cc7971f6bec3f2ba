"""Any OpenAI-compatible server (vLLM, TGI, llama.cpp server): streamed chat over HTTP.

One engine serves every reply of its worker at once (SWITCHBOARD_LLM_CONCURRENCY threads):
its client pools that many connections. A reply that stops early closes its generator, which
closes the HTTP stream (the response is never read to its end): vLLM and the others then
abort the request instead of generating on (docs/deploy.md, "Serving the model on GPUs").
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx

from .base import FREQUENCY_PENALTY, STOP_SEQUENCES, ChatMessage, Engine, EngineError, Usage


class OpenAICompatEngine(Engine):
    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str = "",
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        context_tokens: int = 4096,
        max_streams: int = 100,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise EngineError(
                "openai engine needs SWITCHBOARD_OPENAI_BASE_URL, e.g. http://vllm:8000/v1",
                permanent=True,
            )
        self.model_name = model or "default"
        self.context_tokens = context_tokens
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(
                max_connections=max(100, max_streams), max_keepalive_connections=max_streams
            ),
        )

    def count_tokens(self, text: str) -> int:
        # The server owns the tokenizer; ~4 characters a token is a safe budget estimate.
        return max(1, len(text) // 3)

    def stream(
        self, messages: list[ChatMessage], *, max_tokens: int, temperature: float, usage: Usage
    ) -> Iterator[str]:
        started = time.perf_counter()
        body = {
            "model": self.model_name,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
            "frequency_penalty": FREQUENCY_PENALTY,
            "stop": STOP_SEQUENCES,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        try:
            with self._client.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    raise EngineError(
                        f"server answered {response.status_code}: {response.text[:200]}",
                        permanent=400 <= response.status_code < 500 and response.status_code != 429,
                    )
                done = False
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        done = True
                        break
                    event = json.loads(data)
                    if event.get("usage"):
                        usage.prompt_tokens = event["usage"].get(
                            "prompt_tokens", usage.prompt_tokens
                        )
                        usage.completion_tokens = event["usage"].get(
                            "completion_tokens", usage.completion_tokens
                        )
                    for choice in event.get("choices") or []:
                        piece = (choice.get("delta") or {}).get("content")
                        if piece:
                            if usage.ttft_s is None:
                                usage.ttft_s = time.perf_counter() - started
                            usage.completion_tokens += 0 if event.get("usage") else 1
                            yield piece
                if not done:
                    # Servers that fail mid-generation (llama.cpp's on a context overflow)
                    # end the stream without [DONE]: a cut reply, not a finished one.
                    raise EngineError("model server ended the stream before [DONE]")
                if not usage.prompt_tokens:  # servers that do not report usage
                    usage.prompt_tokens = sum(self.count_tokens(m["content"]) for m in messages)
        except httpx.TimeoutException as exc:
            raise EngineError(f"model server timed out: {exc}") from exc
        except httpx.HTTPError as exc:
            raise EngineError(f"model server unreachable: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise EngineError(f"model server sent a malformed event: {exc}") from exc
