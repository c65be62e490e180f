"""Websocket /ws/train: stream a run live, epoch by epoch, and steer it.

Per connection three tasks cooperate:
- the *receiver* reads client messages (always running, so pause/stop are obeyed at once);
- the *producer* advances the core trainer on a schedule (epochs_per_second, or "max") and
  puts records into a small outbox — it never awaits the network;
- the *sender* drains the outbox, coalescing the records due into one "epochs" message at most
  ``max_messages_per_second`` times a second, each send bounded by a timeout.
A client that stops reading is closed: its sends time out, or its outbox overflows.
Control messages (pause, step, set, ...) take effect between two epochs: an epoch computed in
a worker thread finishes, and its record is queued, before the message is applied.
When the connection ends, every task is cancelled and awaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from app.core.errors import ConfigError
from app.core.results import epoch_dict
from app.core.trainer import Training, train

from ..schemas import dumps, loads
from ..services import Services

log = logging.getLogger("descent_lab.stream")
router = APIRouter()

CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN = 1013
MAX_SPEED = 10_000.0
SLICE_SECONDS = 0.004  # longest stretch of training between two looks at the event loop
HEAVY_EPOCH_TERMS = 300_000  # above this, epochs are computed in a worker thread

MESSAGE_FIELDS = {
    "start": {"config", "epochs_per_second", "paused"},
    "pause": set(), "resume": set(), "stop": set(),
    "step": {"epochs"},
    "speed": {"epochs_per_second"},
    "set": {"learning_rate"},
}


class SlowClient(Exception):
    pass


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def origin_allowed(ws: WebSocket, allowed: tuple[str, ...]) -> bool:
    """Same origin by default; otherwise one of ``allowed``. No Origin header: not a browser."""
    origin = ws.headers.get("origin")
    if origin is None:
        return True
    if origin in allowed or "*" in allowed:
        return True
    host = ws.headers.get("host", "")
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == host and bool(host)


def _speed(value: Any, field: str) -> float | None:
    """epochs per second (None: as fast as possible)."""
    if value == "max":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(field, f"must be a positive number or \"max\", got {value!r}", "type")
    if not 0 < value <= MAX_SPEED:
        raise ConfigError(field, f"must be greater than 0 and at most {MAX_SPEED:g}",
                          "out_of_range")
    return float(value)


class Session:
    def __init__(self, ws: WebSocket, services: Services) -> None:
        self.ws = ws
        self.services = services
        self.settings = services.settings
        self.training: Training | None = None
        self.producer: asyncio.Task | None = None
        self.speed: float | None = self.settings.default_epochs_per_second
        self.paused = False
        self.credits = 0
        self.repace = True
        self.last_record: dict | None = None
        self.outbox: deque[tuple[str, Any]] = deque()
        self.pending = 0  # records in the outbox
        self.pending_bytes = 0  # and their size as JSON
        self.wake_sender = asyncio.Event()
        self.wake_producer = asyncio.Event()
        self.drained = asyncio.Event()
        self.drained.set()
        self.failure: BaseException | None = None
        self.failed = asyncio.Event()
        # Held while epochs are computed and queued; control messages wait for it, so they
        # apply between two epochs (the producer awaits a worker thread for heavy epochs).
        self.between_epochs = asyncio.Lock()
        self._nap_waiter: asyncio.Future | None = None
        self.send_since: float | None = None  # when the send under way began

    # --- waking the producer ---------------------------------------------------------------

    def wake(self) -> None:
        """Wake the producer (a control message changed what it should do)."""
        self.wake_producer.set()
        waiter = self._nap_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def nap(self, delay: float) -> None:
        """Sleep until ``delay`` has passed or ``wake`` is called: a future and a timer, far
        cheaper per tick than wait_for (a task) when hundreds of sessions tick 30 times a second.
        """
        loop = asyncio.get_running_loop()
        waiter = self._nap_waiter = loop.create_future()
        timer = loop.call_later(delay, _resolve, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._nap_waiter = None

    # --- outbox ---------------------------------------------------------------------------

    def emit(self, message: dict) -> None:
        self.outbox.append(("msg", message))
        self.wake_sender.set()

    def emit_records(self, records: list[dict]) -> None:
        """Queue records, encoded at once: the outbox is bounded in records and in bytes (a
        record with every mini-batch's params can be large)."""
        encoded = [dumps(r) for r in records]
        if self.outbox and self.outbox[-1][0] == "records":
            self.outbox[-1][1].extend(encoded)
        else:
            self.outbox.append(("records", encoded))
        self.pending += len(encoded)
        self.pending_bytes += sum(map(len, encoded))
        self.drained.clear()
        self.wake_sender.set()
        s = self.settings
        if self.pending > s.client_buffer_records or (
                self.pending_bytes > s.client_buffer_bytes and self.pending > 1):
            raise SlowClient(f"{self.pending} records ({self.pending_bytes:,} bytes) waiting")

    def error(self, e: ConfigError, prefix: str = "") -> None:
        field = f"{prefix}.{e.field}" if prefix and e.field else (e.field or prefix or None)
        self.emit({"type": "error", "code": e.code, "message": e.message, "field": field})

    async def watch_sends(self) -> None:
        """Fail the session when one send has been blocked longer than the send timeout."""
        timeout = self.settings.send_timeout_seconds
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(timeout / 4, 1.0))
            since = self.send_since
            if since is not None and loop.time() - since > timeout:
                raise SlowClient(f"a send took over {timeout:g} s")

    async def send_loop(self) -> None:
        gap = 1.0 / self.settings.max_messages_per_second
        loop = asyncio.get_running_loop()
        last = -math.inf
        while True:
            await self.wake_sender.wait()
            self.wake_sender.clear()
            if self.failure is not None:
                raise self.failure
            while self.outbox:
                if self.outbox[0][0] == "records":
                    wait = last + gap - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)  # later records join this message
                    _, encoded = self.outbox.popleft()
                    text = (b'{"type":"epochs","records":[' + b",".join(encoded) + b"]}"
                            ).decode()
                    self.pending -= len(encoded)
                    self.pending_bytes -= sum(map(len, encoded))
                    last = loop.time()
                else:
                    text = dumps(self.outbox.popleft()[1]).decode()
                self.send_since = loop.time()  # watched by watch_sends: no timer per send
                await self.ws.send_text(text)
                self.send_since = None
            self.drained.set()

    # --- producer -------------------------------------------------------------------------

    async def produce(self, training: Training) -> None:
        loop = asyncio.get_running_loop()
        ds = training.run.dataset
        steps = 1 if training.run.batch_size >= ds.n else math.ceil(ds.n / training.run.batch_size)
        heavy = ds.n * (steps + 1) > HEAVY_EPOCH_TERMS
        t0, made = loop.time(), 0
        while True:
            if self.paused and self.credits == 0:
                self.wake_producer.clear()
                await self.wake_producer.wait()
                continue
            if self.repace:
                t0, made, self.repace = loop.time(), 0, False
            if self.paused:
                due = self.credits
            elif self.speed is None:
                if self.pending > 0:  # as fast as the client takes them
                    await self.drained.wait()
                    continue  # a pause may have come meanwhile
                due = 1_000_000
            else:
                due = int((loop.time() - t0) * self.speed) + 1 - made
                if due <= 0:
                    delay = (made - (loop.time() - t0) * self.speed) / self.speed
                    await self.nap(max(delay, 0.001))
                    continue
            async with self.between_epochs:
                if self.paused:  # a pause or a step may have come while waiting
                    if self.credits == 0:
                        continue
                    due = self.credits
                records, final = await self._advance(training, due, heavy)
                made += len(records)
                if self.paused:
                    self.credits = max(0, self.credits - len(records))
                if records:
                    self.last_record = records[-1]
                    self.emit_records(records)
                if final:
                    self.finish(training.stop_reason or "max_epochs")
                    return
            if len(records) < due or self.speed is None or self.paused:
                # more is due at once: let the receiver and the sender in between slices (a
                # paced run that has caught up naps next, which yields anyway)
                await asyncio.sleep(0)

    async def _advance(self, training: Training, due: int, heavy: bool
                       ) -> tuple[list[dict], bool]:
        """Up to ``due`` records, for at most one time slice (or one heavy epoch); and
        whether the run has ended."""
        loop = asyncio.get_running_loop()
        records: list[dict] = []
        deadline = loop.time() + SLICE_SECONDS
        while len(records) < due:
            if heavy:
                epoch = await asyncio.to_thread(next, training, None)
            else:
                epoch = next(training, None)
            if epoch is None:
                return records, True
            records.append(epoch_dict(epoch))
            if epoch.stop_reason is not None:
                return records, True
            if heavy or loop.time() > deadline:
                break
        return records, False

    def finish(self, reason: str) -> None:
        self.training = None
        self.producer = None
        self.emit({"type": "done", "stop_reason": reason, "record": self.last_record})

    async def stop_producer(self) -> None:
        task, self.producer = self.producer, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- client messages ------------------------------------------------------------------

    async def handle(self, text: str) -> None:
        msg = loads(text)
        if not isinstance(msg, dict):
            raise ConfigError("", "a message must be a JSON object with a \"type\"", "type")
        kind = msg.get("type")
        if kind not in MESSAGE_FIELDS:
            raise ConfigError("type", f"unknown message type {kind!r} (known: "
                              f"{', '.join(MESSAGE_FIELDS)})", "unknown_type")
        for key in msg:
            if key != "type" and key not in MESSAGE_FIELDS[kind]:
                raise ConfigError(key, f"unknown field for a {kind!r} message", "unknown_field")
        if kind == "start":
            return await self.start(msg)
        async with self.between_epochs:
            await self.control(kind, msg)

    async def control(self, kind: str, msg: dict) -> None:
        """Apply a control message to the run in progress (between two epochs)."""
        if self.training is None:
            raise ConfigError("type", f"no run in progress to {kind}: send a start message",
                              "no_run")
        training = self.training
        if kind == "pause":
            self.paused, self.credits = True, 0
            self.emit({"type": "paused", "epoch": self._epoch()})
        elif kind == "resume":
            self.paused, self.credits, self.repace = False, 0, True
            self.wake()
            self.emit({"type": "resumed", "epoch": self._epoch()})
        elif kind == "step":
            n = msg.get("epochs", 1)
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1000:
                raise ConfigError("epochs", f"must be an integer from 1 to 1000, got {n!r}",
                                  "out_of_range")
            if not self.paused:
                self.paused = True
                self.emit({"type": "paused", "epoch": self._epoch()})
            self.credits += n
            self.wake()
        elif kind == "stop":
            await self.stop_producer()
            self.finish("stopped")
        elif kind == "speed":
            if "epochs_per_second" not in msg:
                raise ConfigError("epochs_per_second", "is required", "missing")
            self.speed = _speed(msg["epochs_per_second"], "epochs_per_second")
            self.repace = True
            self.wake()
            self.emit({"type": "speed", "epochs_per_second": self.speed or "max"})
        elif kind == "set":
            if "learning_rate" not in msg:
                raise ConfigError("learning_rate", "is required", "missing")
            lr = msg["learning_rate"]
            limit = self.services.limits.max_learning_rate
            if isinstance(lr, bool) or not isinstance(lr, int | float) or not math.isfinite(lr):
                raise ConfigError("learning_rate", f"must be a finite number, got {lr!r}",
                                  "type")
            if not 0 < lr <= limit:
                raise ConfigError("learning_rate", f"must be greater than 0 and at most "
                                  f"{limit:g}, got {lr:g}", "out_of_range")
            epoch = training.set_learning_rate(lr)
            self.emit({"type": "set", "learning_rate": float(lr), "from_epoch": epoch})

    def _epoch(self) -> int | None:
        return None if self.last_record is None else self.last_record["epoch"]

    async def start(self, msg: dict) -> None:
        if self.training is not None:
            raise ConfigError("type", "a run is in progress: send stop before a new start",
                              "run_in_progress")
        speed = self.speed
        if "epochs_per_second" in msg:
            speed = _speed(msg["epochs_per_second"], "epochs_per_second")
        paused = msg.get("paused", False)
        if not isinstance(paused, bool):
            raise ConfigError("paused", "must be true or false", "type")
        if "config" not in msg:
            raise ConfigError("config", "is required", "missing")
        try:  # in a thread: building the dataset (e.g. parsing a large CSV) can take a moment
            run, training = await asyncio.to_thread(self._prepare, msg["config"])
        except ConfigError as e:
            self.error(e, "config")
            return
        self.speed, self.paused, self.credits, self.repace = speed, paused, 0, True
        self.last_record = None
        self.training = training
        self.emit({"type": "started", "config": run.config, "param_names": list(run.param_names),
                   "epochs": run.epochs, "epochs_per_second": speed or "max", "paused": paused})
        if paused:  # show the starting point at once
            self.credits = 1
        self.producer = asyncio.create_task(self.produce(training))
        self.producer.add_done_callback(self._producer_done)

    def _prepare(self, config: Any) -> tuple[Any, Training]:
        run = self.services.parse_run(config)
        return run, train(run)

    def _producer_done(self, task: asyncio.Task) -> None:
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        if isinstance(exc, SlowClient):
            self.failure = exc
            self.failed.set()  # serve() closes the connection, even while a send is blocked
        else:
            log.error("training failed", exc_info=exc)
            self.training = self.producer = None
            self.emit({"type": "error", "code": "internal", "field": None,
                       "message": "training failed on the server; the run has ended"})
        self.wake_sender.set()

    async def receive_loop(self) -> None:
        limit = self.settings.max_message_bytes
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                self.error(ConfigError("", "binary frames are not accepted: send JSON text",
                                       "binary_frame"))
                continue
            if len(text) > limit:
                await self.ws.close(CLOSE_TOO_BIG, "message too big")
                return
            try:
                await self.handle(text)
            except ConfigError as e:
                self.error(e)
            except SlowClient:
                raise

    async def serve(self) -> None:
        receiver = asyncio.create_task(self.receive_loop())
        sender = asyncio.create_task(self.send_loop())
        overflow = asyncio.create_task(self.failed.wait())
        watchdog = asyncio.create_task(self.watch_sends())
        tasks = (receiver, sender, overflow, watchdog)
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            slow = self.failure if overflow in done else next(
                (t.exception() for t in (receiver, sender, watchdog)
                 if t in done and not t.cancelled() and isinstance(t.exception(), SlowClient)),
                None)
            if slow is not None:
                log.info("closing a slow client: %s", slow)
                await self.stop_producer()
                sender.cancel()  # it may be blocked in a send
                with contextlib.suppress(asyncio.CancelledError, SlowClient):
                    await sender
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.ws.close(CLOSE_POLICY, "client too slow"), 1.0)
        finally:
            await self.stop_producer()
            for task in tasks:
                task.cancel()
            for task in tasks:
                try:
                    await task
                except (asyncio.CancelledError, WebSocketDisconnect, SlowClient, RuntimeError):
                    pass
                except Exception:  # a broken connection: nothing more to say to it
                    log.debug("session task ended", exc_info=True)


@router.websocket("/ws/train", name="stream_run")
async def stream_run(ws: WebSocket) -> None:
    services: Services = ws.app.state.services
    settings = services.settings
    if not origin_allowed(ws, settings.allowed_origins):
        await ws.close(CLOSE_POLICY)  # before accept: the handshake gets HTTP 403
        return
    await ws.accept()
    if services.sessions >= settings.max_sessions:
        await ws.send_text(dumps({"type": "error", "code": "busy", "field": None,
                                  "message": f"the server is busy ({settings.max_sessions} "
                                  "sessions are streaming); try again shortly"}).decode())
        await ws.close(CLOSE_TRY_AGAIN, "busy")
        return
    services.sessions += 1
    try:
        await Session(ws, services).serve()
    finally:
        services.sessions -= 1
