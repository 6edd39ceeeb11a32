"""The ``/otel`` intake: frames read by the socket shell, decoded later, never trusted.

Theory of operation
-------------------
The bus listener hands every message of an ``/otel`` socket to :meth:`TelemetryIngest.receive_nowait`,
inline in its read callback, with the realm of the socket's credential. That call only checks
what is cheap (a known 4-byte prefix, the size) and queues the frame; it never raises and never
decodes, so a hostile peer cannot stall the event loop or break the socket:

* a frame without a telemetry prefix is dropped (``dropped_invalid``);
* a frame over ``max_frame_bytes`` is dropped (``dropped_oversized``); frames over the bus's
  own ``engine.max_frame_bytes`` never get here (the socket closes with 1009);
* a frame that would take the queue past ``max_pending_bytes`` is dropped (``dropped_backlog``):
  the queue is bounded in bytes, whoever sends.

:meth:`TelemetryIngest.run` (a task of the module) decodes queued frames one at a time with
:func:`~engine.modules.observability_otlp.decode_frame` (frames over ``inline_bytes`` in a worker
thread, so a large one does not hold the loop), counts undecodable ones, and hands each batch to
the module's ``store`` callback on the event loop. Drop warnings are logged at the 1st, 2nd, 4th,
8th… occurrence, so a flood of garbage cannot flood the log either.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

import anyio
from anyio import lowlevel, to_thread
from anyio.abc import TaskStatus

from .observability_otlp import PREFIXES, Batch, OtlpError, decode_frame
from .observability_records import RecordLimits

__all__ = ["IngestStatistics", "TelemetryIngest", "INLINE_BYTES"]

log = logging.getLogger(__name__)

INLINE_BYTES = 64 * 1024
"""Frames up to this size are decoded on the event loop; larger ones in a worker thread."""


class IngestStatistics(NamedTuple):
    received: int
    """Frames queued for decoding."""
    decoded: int
    dropped_invalid: int
    """Not a telemetry frame, not JSON, or not an OTLP object."""
    dropped_oversized: int
    dropped_backlog: int
    """Refused because ``max_pending_bytes`` were already waiting."""
    skipped_elements: int
    """Malformed spans/records/points left out of frames that decoded."""
    pending_frames: int
    pending_bytes: int
    finished: int
    """Frames done with: dropped at intake, refused by the decoder, or stored."""


class TelemetryIngest:
    """Bounded queue of ``/otel`` frames and the task that decodes them.

    Args:
        store: called on the event loop with each decoded batch.
        limits: how much of each record is kept.
        max_frame_bytes: largest frame decoded.
        max_pending_bytes: bytes that may wait for decoding.
        inline_bytes: frames up to this size are decoded on the event loop.
    """

    def __init__(self, store: Callable[[Batch], None], limits: RecordLimits, *, max_frame_bytes: int,
                 max_pending_bytes: int, inline_bytes: int = INLINE_BYTES) -> None:
        self.store, self.limits = store, limits
        self.max_frame_bytes, self.max_pending_bytes = max_frame_bytes, max_pending_bytes
        self.inline_bytes = inline_bytes
        self._pending: deque[tuple[bytes | str, str | None]] = deque()
        self._pending_bytes = 0
        self._wake = anyio.Event()
        self._progress = anyio.Event()
        self._finished = 0
        self._received = self._decoded = self._invalid = self._oversized = self._backlog = self._skipped = 0

    def statistics(self) -> IngestStatistics:
        return IngestStatistics(self._received, self._decoded, self._invalid, self._oversized, self._backlog,
                                self._skipped, len(self._pending), self._pending_bytes, self._finished)

    async def wait_finished(self, frames: int) -> None:
        """Return once ``frames`` frames in total are done with (stored or dropped).

        For whoever fed the sockets and must know their frames were taken in (tests, shutdown
        drains); bound it with ``anyio.fail_after``.
        """
        while self._finished < frames:
            await self._progress.wait()

    def _finish(self) -> None:
        self._finished += 1
        self._progress.set()
        self._progress = anyio.Event()

    def receive_nowait(self, frames: list[str | bytes], realm: str | None = None) -> None:
        """Queue the messages of one read batch of an ``/otel`` socket (the ``TelemetrySink``
        contract of :mod:`engine.server`). Never raises."""
        for frame in frames:
            size = len(frame)
            if PREFIXES.get(frame[:4].encode("utf-8", "replace") if isinstance(frame, str) else bytes(frame[:4])) is None:
                self._invalid += 1
                self._warn("invalid", self._invalid, f"no telemetry prefix ({size} bytes)")
                self._finish()
            elif size > self.max_frame_bytes:
                self._oversized += 1
                self._warn("oversized", self._oversized, f"{size} bytes > max_frame_bytes {self.max_frame_bytes}")
                self._finish()
            elif self._pending_bytes + size > self.max_pending_bytes:
                self._backlog += 1
                self._warn("backlog", self._backlog, f"{self._pending_bytes} bytes already waiting")
                self._finish()
            else:
                self._pending.append((frame, realm))
                self._pending_bytes += size
                self._received += 1
        if self._pending:
            self._wake.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Decode queued frames and hand them to ``store`` until cancelled."""
        task_status.started()
        while True:
            while not self._pending:
                self._wake = anyio.Event()
                await self._wake.wait()
            frame, realm = self._pending.popleft()
            self._pending_bytes -= len(frame)
            batch = await self._decode(frame, realm)
            if batch is not None:
                self._decoded += 1
                self._skipped += batch.skipped
                try:
                    self.store(batch)
                except Exception:  # a bug in storing: this frame only
                    log.exception("storing a %s frame failed", batch.kind)
            self._finish()
            await lowlevel.checkpoint()  # a burst of small frames still lets others run

    async def _decode(self, frame: bytes | str, realm: str | None) -> Batch | None:
        try:
            if len(frame) > self.inline_bytes:
                return await to_thread.run_sync(_decode, frame, self.limits, realm)
            return decode_frame(frame, self.limits, realm=realm)
        except OtlpError as exc:
            self._invalid += 1
            self._warn("invalid", self._invalid, str(exc))
        except Exception:  # a bug in the decoder must not stop the intake
            self._invalid += 1
            log.exception("decoding a telemetry frame failed")
        return None

    @staticmethod
    def _warn(kind: str, count: int, detail: str) -> None:
        if count & (count - 1) == 0:
            log.warning("dropped %d %s telemetry frame(s) so far; latest: %s", count, kind, detail)


def _decode(frame: bytes | str, limits: RecordLimits, realm: str | None) -> Batch:
    return decode_frame(frame, limits, realm=realm)
