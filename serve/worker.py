"""One model worker fed by a bounded queue that it drains into micro-batches.

Many small concurrent requests are turned into few large forward passes (higher
throughput on a CPU), while the bounded queue turns overload into an immediate 503
with Retry-After instead of an ever-growing backlog.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from stancelens.model.predictor import Predictor

logger = logging.getLogger(__name__)


class QueueFull(RuntimeError):
    """The worker has as many pending requests as it accepts."""


@dataclass
class Job:
    sentences: list[str]
    threshold: float | None
    future: Future = field(default_factory=Future)


class BatchWorker:
    def __init__(self, predictor: Predictor, max_batch: int, max_wait_ms: float, queue_size: int, loops: int = 1):
        """``loops`` threads share the queue and the predictor; each runs its own micro-batches.

        With a single-threaded ONNX session per call, two loops on two cores keep both
        cores busy with whole batches, instead of one batch whose every operator is split
        over two threads that must meet after each step (costly for small batches, and
        worse when the event loop takes a core away in between).
        """
        self.predictor = predictor
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.jobs: queue.Queue[Job | None] = queue.Queue(maxsize=queue_size)
        self.threads = [
            threading.Thread(target=self._loop, name=f"stancelens-worker-{i}", daemon=True) for i in range(loops)
        ]
        self._count_lock = threading.Lock()
        self.batches_run = 0
        self.jobs_dropped = 0
        for thread in self.threads:
            thread.start()

    def submit(self, sentences: list[str], threshold: float | None) -> Future:
        job = Job(sentences, threshold)
        try:
            self.jobs.put_nowait(job)
        except queue.Full as exc:
            raise QueueFull("the analysis queue is full") from exc
        return job.future

    def close(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)
        for thread in self.threads:
            thread.join(timeout=10)

    def alive(self) -> bool:
        """Every worker loop is running (``/ready`` fails otherwise)."""
        return all(thread.is_alive() for thread in self.threads)

    def _loop(self) -> None:
        while True:
            first = self.jobs.get()
            if first is None:
                return
            batch, stop = self._collect(first)
            try:
                self._run(batch)
            except Exception:  # a loop never dies of one batch; its jobs got their exception in _run
                logger.exception("worker batch failed")
            if stop:
                return

    def _collect(self, first: Job) -> tuple[list[Job], bool]:
        """``first`` plus every job already queued, then more until ``max_wait`` passes or the batch is full.

        Requests that queued while the previous batch ran are always taken at once, so
        under load batches grow by themselves even with ``max_wait_ms = 0``; the wait only
        decides how long a lone request may be held back for company.
        """
        batch = [first]
        size = len(first.sentences)
        deadline = time.monotonic() + self.max_wait
        while size < self.max_batch:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    job = self.jobs.get(timeout=remaining)
                except queue.Empty:
                    break
            if job is None:
                return batch, True
            batch.append(job)
            size += len(job.sentences)
        return batch, False

    def _run(self, batch: list[Job]) -> None:
        """One forward pass per distinct threshold in the batch (thresholds only gate post-processing).

        A job whose client went away was cancelled while it queued; it is dropped here,
        before any computing (``set_running_or_notify_cancel`` is False for it), and a
        running job can no longer be cancelled, so ``set_result`` never meets a cancelled future.
        """
        by_threshold: dict[float | None, list[Job]] = {}
        for job in batch:
            if job.future.set_running_or_notify_cancel():
                by_threshold.setdefault(job.threshold, []).append(job)
            else:
                with self._count_lock:
                    self.jobs_dropped += 1
        for threshold, jobs in by_threshold.items():
            flat = [s for job in jobs for s in job.sentences]
            try:
                rows: list[dict[str, Any]] = self.predictor.analyze_sentences(flat, threshold)
            except Exception as exc:  # delivered to every waiting request
                for job in jobs:
                    job.future.set_exception(exc)
                continue
            start = 0
            for job in jobs:
                job.future.set_result(rows[start : start + len(job.sentences)])
                start += len(job.sentences)
        with self._count_lock:
            self.batches_run += 1
