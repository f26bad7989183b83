"""Group commit: requests that each need a durable write share one commit (one fsync).

A caller queues its entry and waits; one waiting caller at a time leads: it takes the writer lock,
then every entry queued by then, writes them in one transaction and commits, and wakes the others.
So a caller returns only once the transaction holding its entry is committed, and while one
commit waits for the disk the next batch gathers: throughput is set by the work, not by fsync.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any


class _Entry:
    __slots__ = ("done", "error", "payload", "result")

    def __init__(self, payload: Any) -> None:
        self.payload = payload
        self.done = False
        self.result: int = 0
        self.error: BaseException | None = None


class GroupCommit:
    """``write(payload) -> int`` runs inside a transaction of ``transaction()``; ``submit`` returns
    its result once that transaction has committed."""

    def __init__(self, transaction: Callable[[], AbstractContextManager[None]], write: Callable[[Any], int]) -> None:
        self._transaction = transaction
        self._write = write
        self._cv = threading.Condition()
        self._queue: list[_Entry] = []
        self._leading = False
        self.commits = 0  # transactions committed (entries / commits = the batching achieved)
        self.entries = 0

    def submit(self, payload: Any) -> int:
        me = _Entry(payload)
        with self._cv:
            self._queue.append(me)
            while not me.done and self._leading:
                self._cv.wait()
            if me.done:
                return _result(me)
            self._leading = True
        try:
            self._lead()
        finally:
            with self._cv:
                self._leading = False
                self._cv.notify_all()
        return _result(me)

    def _lead(self) -> None:
        batch: list[_Entry] = []
        try:
            with self._transaction():  # the writer lock first: entries queued while waiting for it join
                with self._cv:
                    batch, self._queue = self._queue, []
                for e in batch:
                    e.result = self._write(e.payload)
        except Exception:  # the batch rolled back: each entry again on its own
            if not batch:
                with self._cv:
                    batch, self._queue = self._queue, []
            self._one_by_one(batch)
            return
        except BaseException as exc:
            _finish(batch, exc)
            raise
        _finish(batch, None)
        self.commits += 1
        self.entries += len(batch)

    def _one_by_one(self, batch: Sequence[_Entry]) -> None:
        """After a failed batch: each entry in its own transaction, so one bad entry fails only its caller."""
        for e in batch:
            try:
                with self._transaction():
                    e.result = self._write(e.payload)
            except Exception as exc:  # noqa: BLE001 - handed to the caller that submitted it
                e.error = exc
            e.done = True


def _finish(batch: Sequence[_Entry], error: BaseException | None) -> None:
    for e in batch:
        e.error = error
        e.done = True


def _result(e: _Entry) -> int:
    if e.error is not None:
        raise e.error
    return e.result
