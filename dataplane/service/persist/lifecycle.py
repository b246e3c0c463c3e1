"""The service's life with a state_dir: start (restore or apply the
config), and a graceful stop (drain the sources, snapshot, exit within
``state.shutdown_timeout``, server.py's watchdog). server.py calls these;
nothing here knows gRPC.

On start: a state_dir holding state wins over the config -- the config
seeded it once (its programs, fills, hooks and filters are in the state
from then on); of the config only what feeds the hooks is used again
(replays and live interfaces, which are not state). A damaged file, or one
written by a newer release, stops the start with the file's name and the
reason, unless ``state.on_damage: start_empty`` says to move the files
aside (``damaged-<time>/`` in the state_dir) and start from the config.
"""
from __future__ import annotations

import logging
import os
import sys
import time

from dataplane.service.persist.manager import Persister
from dataplane.service.persist.store import StateError, Store

log = logging.getLogger("dataplane.service.persist")


def build(cfg, new_app):
    """(app, persister or None): ``new_app()`` makes an empty App."""
    app = new_app()
    if cfg.state is None:
        try:
            app.apply(cfg, start=False)
        except BaseException:
            app.close()
            raise
        return app, None
    try:
        persister = Persister(app, cfg.state.dir, interval=cfg.state.interval)
    except BaseException:
        app.close()
        raise
    app.persister = persister       # for what changes state outside gRPC (reload.on_sighup)
    try:
        if persister.restore():
            apply_restored(app, cfg)
        else:
            app.apply(cfg, start=False)
        persister.checkpoint()          # the state we start from is the state on disk
    except StateError as exc:
        persister.close(final=False)
        app.close()
        if cfg.state.on_damage != "start_empty":
            raise StateError(f"{exc} -- not starting (repair or remove the file, or set "
                             f"state.on_damage: start_empty to move the state aside)", kind=exc.kind) from exc
        moved = quarantine(cfg.state.dir)
        print(f"dataplane: {exc}; state moved to {moved}, starting from the config", file=sys.stderr, flush=True)
        return build(cfg, new_app)
    except BaseException:
        persister.close(final=False)
        app.close()
        raise
    return app, persister


def apply_restored(app, cfg) -> None:
    """After a restore: the config's hooks exist (live interfaces and replays name them), and its
    replays and interfaces pass the same checks as on a fresh start."""
    app.hooks.declared = {hc.name for hc in cfg.hooks} | {fc.hook for fc in cfg.filters}
    for hc in cfg.hooks:
        app.hooks.hook(hc.name, create=True)
    for fc in cfg.filters:
        app.hooks.hook(fc.hook, create=True)
    app.check_replays(cfg)


def quarantine(state_dir: str) -> str:
    store = Store(state_dir)
    try:
        store.lock()
        dest = f"damaged-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}"
        os.mkdir(dest, 0o700, dir_fd=store.dirfd)
        for n in store.names():
            if n == "lock" or n.startswith("damaged-"):
                continue
            os.rename(n, f"{dest}/{n}", src_dir_fd=store.dirfd, dst_dir_fd=store.dirfd)
        os.fsync(store.dirfd)
        return os.path.join(store.path, dest)
    finally:
        store.close()


def stop(app, persister) -> None:
    """Graceful stop, after the listeners closed: stop what feeds the programs (replays, live
    interfaces), so what they wrote is final, snapshot it, then let go of everything."""
    app.replays.stop_all()
    app.live.stop_all()
    if persister is not None:
        try:
            persister.close()
        except Exception as exc:   # noqa: BLE001 - say why; the journal still has every acknowledged change
            print(f"dataplane: final state snapshot failed: {exc}", file=sys.stderr, flush=True)
    app.close()
