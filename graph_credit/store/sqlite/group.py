"""Group commit: requests that each need a durable write share one commit (one fsync).

A caller queues its entry and waits; one waiting caller at a time leads: it takes the writer lock,
then every entry queued by then, writes them in one transaction and commits, and wakes the others.
So a caller returns only once the transaction holding its entry is committed, and while one
commit waits for the disk the next batch gathers: throughput is set by the work, not by fsync.

A caller that must not block (an event loop answering many requests) queues with ``submit_later``
and gets a future: a committer thread leads for it, so no thread waits per entry.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import Any


class _Entry:
    __slots__ = ("done", "error", "future", "payload", "result")

    def __init__(self, payload: Any, future: Future[int] | None = None) -> None:
        self.payload = payload
        self.done = False
        self.result: int = 0
        self.error: BaseException | None = None
        self.future = future  # set once done (submit_later's entries)

    def finish(self) -> None:
        self.done = True
        if self.future is not None:
            if self.error is not None:
                self.future.set_exception(self.error)
            else:
                self.future.set_result(self.result)


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
        self._committer: threading.Thread | None = None  # leads for submit_later's entries
        self._later = 0  # submit_later's entries queued and not yet taken by a leader
        self._closed = False

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

    def submit_later(self, payload: Any) -> Future[int]:
        """Queue ``payload`` without waiting: the future holds ``write``'s result once the transaction
        holding it has committed (or its error)."""
        future: Future[int] = Future()
        future.set_running_or_notify_cancel()  # not cancellable: queued is written (a caller gone is no reason not to)
        me = _Entry(payload, future)
        with self._cv:
            if self._closed:
                raise RuntimeError("the store is closed")
            self._queue.append(me)
            self._later += 1
            if self._committer is None:
                self._committer = threading.Thread(target=self._commit_later, name="group-commit", daemon=True)
                self._committer.start()
            self._cv.notify_all()
        return future

    def _commit_later(self) -> None:
        while True:
            with self._cv:
                while not self._closed and (self._leading or not self._later):
                    self._cv.wait()
                if self._closed and not self._later:
                    return
                self._leading = True
            try:
                self._lead()
            except BaseException:  # noqa: BLE001 - already handed to the batch's callers by _lead
                pass
            finally:
                with self._cv:
                    self._leading = False
                    self._cv.notify_all()

    def close(self) -> None:
        """Commit what submit_later queued, then stop its committer thread."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
            committer = self._committer
        if committer is not None and committer is not threading.current_thread():
            committer.join()

    def _take(self) -> list[_Entry]:
        with self._cv:
            batch, self._queue = self._queue, []
            self._later -= sum(e.future is not None for e in batch)
        return batch

    def _lead(self) -> None:
        batch: list[_Entry] = []
        try:
            with self._transaction():  # the writer lock first: entries queued while waiting for it join
                batch = self._take()
                for e in batch:
                    e.result = self._write(e.payload)
        except Exception:  # the batch rolled back: each entry again on its own
            if not batch:
                batch = self._take()
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
            e.finish()


def _finish(batch: Sequence[_Entry], error: BaseException | None) -> None:
    for e in batch:
        e.error = error
        e.finish()


def _result(e: _Entry) -> int:
    if e.error is not None:
        raise e.error
    return e.result
