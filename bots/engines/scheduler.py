"""One generation scheduler per loaded transformers model, shared by every conversation the
`llm` worker serves at once (issue #13).

It is transformers' own continuous batching (`model.init_continuous_batching()`, a
`ContinuousBatchingManager` with its paged cache and its background generation thread):
requests join and leave the batch at every step. This module only adds what a chat server
needs around it:

- admission: at most `slots` requests in the batch; the rest wait in order (FIFO), and each
  ticket records how long it waited (`queue_wait_s`);
- routing: one thread reads the manager's outputs and hands each request its own tokens;
- cancellation: `Ticket.cancel()` (a takeover, a time limit, a customer gone, a stop
  sequence) cancels the request in the library, whose next step drops it and frees its cache
  blocks, and gives its slot to the next waiting request at once;
- isolation: a request the library fails (or one failed by fault injection) raises in its
  own stream only; if the generation loop itself dies, the requests in it fail and the next
  request starts a new manager.

No Django here: the engine passes settings in, the benchmark uses it bare (bench/gpu.py).
"""

from __future__ import annotations

import collections
import contextlib
import inspect
import itertools
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

# How often a waiting stream wakes up with nothing (the caller renews its lease, checks its
# time limit); how often the depth line is logged while anything is in flight.
WAKE_S = 1.0
DEPTH_LOG_S = 10.0


class SchedulerError(Exception):
    """This request failed in the scheduler (the library failed it, or the loop died)."""


@dataclass
class Depth:
    """What an operator watches: requests in the batch, requests waiting for a slot."""

    active: int
    waiting: int
    slots: int
    served: int = 0
    failed: int = 0
    cancelled: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "active": self.active,
            "waiting": self.waiting,
            "slots": self.slots,
            "served": self.served,
            "failed": self.failed,
            "cancelled": self.cancelled,
        }


@dataclass(eq=False)
class Ticket:
    """One request: wait for a slot, then the cumulative generated token ids, step by step."""

    scheduler: GenerationScheduler
    input_ids: list[int]
    max_new_tokens: int
    submitted: float = field(default_factory=time.perf_counter)
    admitted: float | None = None
    request_id: str | None = None
    cancelled_at: float | None = None
    fail_after_tokens: int | None = None  # fault injection: fail at this many tokens
    _outputs: queue.Queue[Any] = field(default_factory=queue.Queue)
    _done: bool = False

    @property
    def queue_wait_s(self) -> float:
        end = self.admitted if self.admitted is not None else time.perf_counter()
        return max(0.0, end - self.submitted)

    def tokens(self) -> Iterator[list[int] | None]:
        """Yield the generated ids so far after each step, None every WAKE_S while nothing
        comes (waiting for a slot, or a slow step); raise SchedulerError if it fails."""
        while not self._done:
            try:
                item = self._outputs.get(timeout=WAKE_S)
            except queue.Empty:
                yield None
                continue
            if isinstance(item, BaseException):
                self._done = True
                raise item
            ids, finished = item
            if finished:
                self._done = True
            yield ids

    def cancel(self) -> None:
        """Stop this request: out of the waiting line, or out of the batch at the next step."""
        self.scheduler._cancel(self)


class GenerationScheduler:
    """transformers' continuous batching behind a FIFO admission line of `slots` requests."""

    def __init__(
        self,
        model: Any,
        generation_config: Any,
        *,
        slots: int = 64,
        num_blocks: int | None = None,
        max_batch_tokens: int | None = None,
        compile_level: int = 0,
        name: str = "model",
    ) -> None:
        self._model = model
        self._generation_config = generation_config
        self.slots = slots
        self._num_blocks = num_blocks
        self._max_batch_tokens = max_batch_tokens
        self._compile_level = compile_level
        self.name = name
        self._lock = threading.Lock()
        self._waiting: collections.deque[Ticket] = collections.deque()
        self._active: dict[str, Ticket] = {}
        self._ids = itertools.count()
        self._manager: Any = None
        self._router: threading.Thread | None = None
        self._closed = False
        self._served = self._failed = self._cancelled = 0
        self._last_depth_log = 0.0

    # ------------------------------------------------------------------ the library's manager

    def _manager_kwargs(self) -> dict[str, Any]:
        """The continuous batching configuration, for transformers 5.17 and 5.24 alike: newer
        versions take a `ContinuousBatchingConfig`, older ones read it off the generation
        config."""
        options: dict[str, Any] = {
            "num_blocks": self._num_blocks,
            "max_batch_tokens": self._max_batch_tokens,
            "max_requests_per_batch": self.slots,
        }
        if self._compile_level:
            options["default_compile_level"] = self._compile_level
        options = {k: v for k, v in options.items() if v is not None}
        signature = inspect.signature(self._model.init_continuous_batching)
        if "continuous_batching_config" in signature.parameters:
            from transformers import ContinuousBatchingConfig

            known = inspect.signature(ContinuousBatchingConfig).parameters
            config = ContinuousBatchingConfig(**{k: v for k, v in options.items() if k in known})
            return {
                "generation_config": self._generation_config,
                "continuous_batching_config": config,
            }
        for key, value in options.items():  # transformers < 5.20: on the generation config
            setattr(self._generation_config, key, value)
        return {"generation_config": self._generation_config}

    def _ensure_started(self) -> Any:
        manager = self._manager
        if manager is not None and manager.is_running():
            return manager
        if manager is not None:  # the generation loop died: its requests were failed below
            log.error("%s: the generation loop stopped; starting a new one", self.name)
            self._fail_active(SchedulerError("the generation loop stopped"))
        manager = self._model.init_continuous_batching(**self._manager_kwargs())
        self._run(manager)
        return manager

    def _run(self, manager: Any) -> None:
        """Start the library's generation loop, and the thread that routes its output."""
        manager.start()
        self._manager = manager
        if self._router is None or not self._router.is_alive():
            self._router = threading.Thread(
                target=self._route, name=f"scheduler-router-{self.name}", daemon=True
            )
            self._router.start()

    def warm_up(self) -> float:
        """Build the cache and run the library's warm-up (compile, CUDA graphs) now, with the
        progress logged, rather than in a customer's first reply; returns its seconds."""
        started = time.perf_counter()
        log.info("%s: warming up the scheduler (compile level %s)", self.name, self._compile_level)
        with self._lock:
            manager = self._model.init_continuous_batching(**self._manager_kwargs())
            warm = getattr(manager, "warmup", None)
            if callable(warm):
                warm()
                log.info(
                    "%s: warm-up pass done in %.1f s", self.name, time.perf_counter() - started
                )
            self._run(manager)
        # One short request through the whole path (prefill, decode, routing).
        ticket = self.submit([1, 2, 3, 4], max_new_tokens=4)
        for _ids in ticket.tokens():
            pass
        seconds = time.perf_counter() - started
        log.info("%s: scheduler warm in %.1f s", self.name, seconds)
        return seconds

    def close(self) -> None:
        with self._lock:
            self._closed = True
            manager, self._manager = self._manager, None
            self._fail_active(SchedulerError("the scheduler was closed"))
            for ticket in self._waiting:
                ticket._outputs.put(SchedulerError("the scheduler was closed"))
            self._waiting.clear()
        if manager is not None and manager.is_running():
            manager.stop(block=True, timeout=10)

    # ------------------------------------------------------------------ requests

    def submit(
        self, input_ids: list[int], *, max_new_tokens: int, fail_after_tokens: int | None = None
    ) -> Ticket:
        ticket = Ticket(self, list(input_ids), max_new_tokens, fail_after_tokens=fail_after_tokens)
        with self._lock:
            if self._closed:
                raise SchedulerError("the scheduler was closed")
            self._waiting.append(ticket)
            self._admit_locked()
        self._log_depth()
        return ticket

    def depth(self) -> Depth:
        with self._lock:
            return Depth(
                len(self._active),
                len(self._waiting),
                self.slots,
                self._served,
                self._failed,
                self._cancelled,
            )

    def in_library(self, request_id: str) -> bool:
        """Whether the library still holds this request (for the benchmark's cancel-to-freed
        figure); False once its step dropped it and freed its blocks."""
        manager = self._manager
        processor = getattr(manager, "batch_processor", None)
        inner = getattr(processor, "scheduler", None)
        if inner is None:
            return False
        active: dict[str, Any] = getattr(inner, "active_requests", {})
        waiting: dict[str, Any] = getattr(inner, "waiting_requests", {})
        cancelling: set[str] = getattr(inner, "_requests_to_cancel", set())
        return request_id in active or request_id in waiting or request_id in cancelling

    def _admit_locked(self) -> None:
        while self._waiting and len(self._active) < self.slots:
            ticket = self._waiting.popleft()
            manager = self._ensure_started()
            request_id = f"sb{next(self._ids)}"
            ticket.request_id = request_id
            ticket.admitted = time.perf_counter()
            self._active[request_id] = ticket
            added = manager.add_request(
                ticket.input_ids,
                request_id=request_id,
                max_new_tokens=ticket.max_new_tokens,
                streaming=True,
            )
            if added is None:  # the manager refused it (stopping): fail this one only
                del self._active[request_id]
                self._failed += 1
                ticket._outputs.put(SchedulerError("the generation loop refused the request"))

    def _release_locked(self, ticket: Ticket) -> None:
        if ticket.request_id is not None:
            self._active.pop(ticket.request_id, None)
        self._admit_locked()

    def _cancel(self, ticket: Ticket) -> None:
        with self._lock:
            if ticket._done or ticket.cancelled_at is not None:
                return
            ticket.cancelled_at = time.perf_counter()
            self._cancelled += 1
            if ticket.request_id is None:
                with contextlib.suppress(ValueError):
                    self._waiting.remove(ticket)
            elif ticket.request_id in self._active:
                if self._manager is not None:
                    self._manager.cancel_request(ticket.request_id)
                self._release_locked(ticket)
            ticket._done = True

    def _fail_active(self, error: Exception) -> None:
        for ticket in self._active.values():
            self._failed += 1
            ticket._outputs.put(error)
        self._active.clear()

    def _route(self) -> None:
        """The one reader of the manager's outputs: each goes to its own request's stream."""
        while not self._closed:
            manager = self._manager
            if manager is None or not manager.is_running():
                with self._lock:
                    if self._manager is manager and manager is not None and self._active:
                        self._fail_active(SchedulerError("the generation loop stopped"))
                        self._admit_locked()
                time.sleep(0.05)
                continue
            output = manager.get_result(timeout=0.1)
            if output is None:
                self._log_depth()
                continue
            self._deliver(output)

    def _deliver(self, output: Any) -> None:
        with self._lock:
            ticket = self._active.get(output.request_id)
            if ticket is None:  # cancelled meanwhile
                return
            tokens = list(output.generated_tokens)
            error = getattr(output, "error", None)
            injected = (
                ticket.fail_after_tokens is not None and len(tokens) >= ticket.fail_after_tokens
            )
            if error or injected:
                self._failed += 1
                if injected and self._manager is not None:
                    self._manager.cancel_request(output.request_id)
                self._release_locked(ticket)
                message = error or "injected engine error (fault injection)"
                ticket._outputs.put(SchedulerError(f"generation failed: {message}"))
                return
            finished = bool(output.is_finished())
            ticket._outputs.put((tokens, finished))
            if finished:
                self._served += 1
                self._release_locked(ticket)

    def _log_depth(self) -> None:
        now = time.perf_counter()
        if now - self._last_depth_log < DEPTH_LOG_S:
            return
        depth = self.depth()
        if depth.active or depth.waiting or self._last_depth_log == 0.0:
            self._last_depth_log = now
            log.info(
                "scheduler %s: %d generating, %d waiting, %d slots (served %d, failed %d,"
                " cancelled %d)",
                self.name,
                depth.active,
                depth.waiting,
                depth.slots,
                depth.served,
                depth.failed,
                depth.cancelled,
            )
