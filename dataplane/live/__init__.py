"""Live interfaces as hooks: AF_XDP / AF_PACKET workers running a hook's
chain on the traffic of real interfaces (see attachment.py, spec.py).

    from dataplane.live import LiveHook, LiveSpec
    live = LiveHook(hook, LiveSpec("wire", ["vA", "vB"], mode="inline", io="afxdp")).start()
    ...
    live.stop()
"""
from dataplane.live.attachment import LiveHook, QueueInfo
from dataplane.live.spec import LiveSpec, LiveSpecError

__all__ = ["LiveHook", "LiveSpec", "LiveSpecError", "QueueInfo"]
