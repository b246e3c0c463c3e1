"""When state is written and read back (the kinds say what; see the package docstring)."""
from __future__ import annotations

import json
import logging
import threading
import time

from dataplane.errors import DataplaneError
from dataplane.service.persist import kinds
from dataplane.service.persist.store import StateError, Store

log = logging.getLogger("dataplane.service.persist")

DEFAULT_INTERVAL = 10.0
FORMAT = 1          # the on-disk format this dataplane writes; older ones are read, newer ones refused


def _encode(data) -> bytes:
    return json.dumps({"format": FORMAT, "data": data}, sort_keys=True, separators=(",", ":")).encode()


def _decode(path: str, raw: bytes):
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise StateError(f"state file {path} is damaged (not JSON: {exc})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("format"), int) or "data" not in doc:
        raise StateError(f"state file {path} is damaged (no format/data fields)")
    if doc["format"] > FORMAT:
        raise StateError(f"state file {path} has format {doc['format']}, newer than this dataplane's "
                         f"({FORMAT}): it was written by a later release")
    if doc["format"] < 1:
        raise StateError(f"state file {path} has an unknown format {doc['format']}")
    return doc["data"]


class Persister:
    def __init__(self, app, state_dir: str, *, interval: float = DEFAULT_INTERVAL):
        self.app = app
        self.store = Store(state_dir)
        try:
            self.store.lock()
        except BaseException:
            self.store.close()
            raise
        self.interval = interval
        self.kinds = kinds()
        for k in self.kinds:
            k.attach(app)
        self.lock = threading.Lock()
        self._written: dict[str, bytes] = {}
        self._stop = threading.Event()
        self._thread = None
        self.commits = 0
        self.checkpoints = 0
        self.last_error = ""

    # ---------------------------------------------------------------- start
    def has_state(self) -> bool:
        return any(n.endswith((".json", ".jnl")) for n in self.store.names())

    def restore(self) -> bool:
        """Rebuild every kind from the directory; False when it holds no state yet."""
        if not self.has_state():
            return False
        with self.lock:
            for k in self.kinds:
                path = f"{self.store.path}/{k.name}.json"
                raw = self.store.read(f"{k.name}.json")
                data = _decode(path, raw) if raw is not None else None
                try:
                    k.restore(self.app, data, self.store)
                except StateError:
                    raise
                except (DataplaneError, KeyError, TypeError, ValueError, IndexError) as exc:
                    # the file parsed but does not describe state this service can rebuild
                    raise StateError(f"state file {path}: cannot restore {k.name}: {type(exc).__name__}: {exc}",
                                     kind=getattr(exc, "kind", 5)) from exc
                if raw is not None:
                    self._written[k.name] = raw
        log.info("restored state from %s", self.store.path)
        return True

    # ---------------------------------------------------------------- writes
    def commit(self, method: str = "") -> None:
        """After a control-plane change (gRPC ``method``), before it is acknowledged."""
        with self.lock:
            for k in self.kinds:
                k.flush(self.app, self.store)
            for k in self.kinds:
                if not k.periodic or method in k.commit_methods:
                    self._write(k)
            self.commits += 1

    def checkpoint(self) -> None:
        """Every kind, periodic ones included (timer, shutdown)."""
        with self.lock:
            for k in self.kinds:
                k.flush(self.app, self.store)
            for k in self.kinds:
                self._write(k)
            self.checkpoints += 1

    def _write(self, k) -> None:
        data = k.snapshot(self.app, self.store)
        raw = _encode(data)
        if self._written.get(k.name) != raw:
            self.store.write(f"{k.name}.json", raw)
            self._written[k.name] = raw
            k.written(self.app, self.store, data)

    # ---------------------------------------------------------------- timer
    def start(self) -> None:
        if self.interval > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="dataplane-persist", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.checkpoint()
                self.last_error = ""
            except Exception as exc:   # disk full, ...: say so, keep serving, retry next time
                self.last_error = str(exc)
                log.error("state checkpoint failed: %s", exc)

    def close(self, *, final: bool = True) -> None:
        """Stop the timer; ``final``: one last checkpoint (graceful shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        t0 = time.monotonic()
        if final:
            self.checkpoint()
            log.info("state checkpoint at shutdown in %.3f s", time.monotonic() - t0)
        self.store.close()
