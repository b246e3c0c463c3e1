"""Loads (parse, verify, JIT) off the gRPC event loop, bounded.

The probe found eight slow loads starving every other RPC for 42 s, loads
the client had given up on completing later with ids it never received, and
a verification holding SIGTERM.  Here:

* at most ``limits.verify_workers`` loads run at once, on daemon threads
  (never joined at exit: SIGTERM is not held by a verification), and at
  most ``limits.verify_queue`` wait; past that RESOURCE_EXHAUSTED;
* each load has a deadline, ``limits.verify_seconds`` or the client's own
  deadline when sooner; past it the load is stopped (DEADLINE_EXCEEDED);
* a client that cancels or times out stops its load; a load that was
  already publishing when that happened is unloaded again, so no object
  stays behind with ids the client never saw.

Stopping a running load: the job's ``cancel`` (a :class:`Job`) is handed to
``Registry.load``, which passes it on as the verifier's bounds when the
runtime takes them (deadline / cancel / states cap, the verifier's own
VerifierAborted), and checks it before it publishes anything.  Until the
verifier takes them, the pool stops the load's thread itself with an
asynchronous exception (``PyThreadState_SetAsyncExc``), which CPython
delivers at the next bytecode the thread runs; a load only ever gets it
before it starts publishing (:meth:`Job.begin_publish`), so the registry is
never left half-updated.
"""
from __future__ import annotations

import asyncio
import ctypes
import errno
import threading
import time
from collections import deque

from dataplane.errors import DataplaneError


class LoadStopped(DataplaneError):
    """A load stopped by its bounds, not by what it loaded."""


class LoadTimedOut(LoadStopped):
    kind = errno.ETIMEDOUT

    def __init__(self, msg: str = "load stopped: it exceeded its deadline (limits.verify_seconds)", **kw):
        super().__init__(msg, **kw)


class LoadCancelled(LoadStopped):
    kind = errno.ECANCELED

    def __init__(self, msg: str = "load stopped: the client cancelled it", **kw):
        super().__init__(msg, **kw)


class Job:
    """One load: its state, and the cancellation the registry and verifier poll."""

    def __init__(self, deadline: float):
        self.deadline = deadline            # time.monotonic() value
        self._lock = threading.Lock()
        self._why: type | None = None       # LoadTimedOut / LoadCancelled once stopped
        self._phase = "queued"              # queued -> running -> publishing -> done
        self._thread: int | None = None
        self.future: asyncio.Future | None = None

    # the threading.Event face (Registry.load, the verifier's cancel=)
    def is_set(self) -> bool:
        return self._why is not None or time.monotonic() > self.deadline

    __call__ = is_set

    def begin_publish(self) -> bool:
        """Called by the registry (under its lock) just before it publishes:
        False when the load was stopped; else no stop can reach it any more."""
        with self._lock:
            if self.is_set():
                return False
            self._phase = "publishing"
            return True

    def stop(self, why: type) -> None:
        """Stop the load: queued ones never start, running ones get ``why``
        raised in their thread; publishing ones finish (and are rolled back)."""
        with self._lock:
            if self._why is None:
                self._why = why
            if self._phase == "running" and self._thread is not None:
                _async_raise(self._thread, why)

    @property
    def stopped(self) -> type | None:
        return self._why

    def _enter(self) -> bool:
        with self._lock:
            if self._why is not None:
                return False
            self._phase, self._thread = "running", threading.get_ident()
            return True

    def _leave(self) -> None:
        with self._lock:
            self._phase, self._thread = "done", None


def _async_raise(thread_id: int, exc: type) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc))


def _clear_async(thread_id: int) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)


class VerifyPool:
    def __init__(self, workers: int = 2, queue: int = 16, seconds: float = 60.0):
        self.workers, self.max_queue, self.seconds = workers, queue, seconds
        self._cv = threading.Condition()
        self._queue: deque = deque()
        self._jobs: set[Job] = set()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"dataplane-load-{i}", daemon=True)
                         for i in range(workers)]
        for t in self._threads:
            t.start()
        self.completed = self.timed_out = self.cancelled = self.rolled_back = 0

    async def run(self, fn, *, timeout: float | None = None, rollback=None):
        """``await fn(cancel=job)`` on a worker; ``rollback(result)`` undoes a
        result that arrived after the caller was gone."""
        seconds = self.seconds if timeout is None else min(self.seconds, max(timeout, 0.0))
        job = Job(time.monotonic() + seconds)
        loop = asyncio.get_running_loop()
        job.future = loop.create_future()
        with self._cv:
            if self._closed:
                raise DataplaneError("the service is shutting down", kind=errno.ECANCELED)
            waiting = len(self._queue)
            if waiting >= self.max_queue:
                raise DataplaneError(f"{waiting} loads are waiting for a verifier; the limit is "
                                     f"{self.max_queue} (limits.verify_queue): retry later", kind=errno.EAGAIN)
            self._queue.append((job, fn, loop))
            self._jobs.add(job)
            self._cv.notify()
        timer = loop.call_later(seconds, job.stop, LoadTimedOut)
        try:
            return await asyncio.shield(job.future)
        except asyncio.CancelledError:
            # the client went away (or the server is stopping): stop it, and undo it if it got through
            job.stop(LoadCancelled)
            self.cancelled += 1

            def undo(f):
                if not f.cancelled() and f.exception() is None and rollback is not None:
                    self.rolled_back += 1
                    rollback(f.result())
            job.future.add_done_callback(undo)
            raise
        except LoadTimedOut:
            self.timed_out += 1
            raise LoadTimedOut(f"load stopped: it took longer than {seconds:g} s "
                               f"({'the client deadline' if timeout is not None and timeout < self.seconds else 'limits.verify_seconds'})") from None
        finally:
            timer.cancel()

    def _work(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._closed:
                    self._cv.wait()
                if self._closed and not self._queue:
                    return
                job, fn, loop = self._queue.popleft()
            result, error = None, None
            try:
                if not job._enter():
                    raise job.stopped()
                try:
                    result = fn(cancel=job)
                finally:
                    job._leave()
                    _clear_async(threading.get_ident())   # a stop that raced the end of fn
            except BaseException as exc:     # noqa: BLE001 - handed to the caller
                # stopped by its bounds: say so, whatever the stopped code made of the exception
                why = job.stopped or (LoadTimedOut if job.is_set() else None)
                error = why() if why is not None and not isinstance(exc, LoadStopped) and \
                    (not isinstance(exc, DataplaneError) or exc.kind in (errno.ECANCELED, errno.ETIMEDOUT)) else exc
            with self._cv:
                self._jobs.discard(job)
            self.completed += 1
            try:
                loop.call_soon_threadsafe(_settle, job.future, result, error)
            except RuntimeError:      # the loop is closed: nobody waits
                pass

    def close(self) -> None:
        """Stop everything (SIGTERM): queued loads never start, running ones are stopped; not waited for."""
        with self._cv:
            self._closed = True
            jobs = list(self._jobs)
            self._cv.notify_all()
        for j in jobs:
            j.stop(LoadCancelled)

    @property
    def busy(self) -> int:
        with self._cv:
            return len(self._jobs)


def _settle(fut: asyncio.Future, result, error) -> None:
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)
