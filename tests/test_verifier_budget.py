"""Bounds a caller (the service) puts on one verification: a deadline, a
cancellation flag checked as exploration goes, and a cap on the states
kept.  Each stops verification with VerifierAborted, a clear summary and
its errno kind, wherever the exploration is, and leaves verdicts of
programs within the bounds unchanged."""
from __future__ import annotations

import errno
import sys
import threading
from pathlib import Path

import pytest

from dataplane.errors import VerifierAborted, VerifierError
from dataplane.verifier import verify
from support.verifier import assemble

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from verify import UNBOUNDED_ASM, loop22_asm  # noqa: E402


@pytest.mark.parametrize("log_level", [0, 1])
def test_deadline_stops_an_unbounded_loop(log_level):
    with pytest.raises(VerifierAborted) as ei:
        verify(assemble(UNBOUNDED_ASM, {}), prog_type="xdp", log_level=log_level, deadline=0.05)
    e = ei.value
    assert e.kind == errno.ETIMEDOUT
    assert e.summary == "verification exceeded 0.05 s"
    assert "verification exceeded 0.05 s" in e.log
    processed = int(e.log.split("processed ")[-1].split()[0])
    assert 0 < processed < 1_000_000     # stopped on the way, not at the complexity limit


@pytest.mark.parametrize("log_level", [0, 1])
def test_cancel_callable(log_level):
    asked = []

    def cancelled():
        asked.append(1)
        return len(asked) > 3

    with pytest.raises(VerifierAborted) as ei:
        verify(assemble(UNBOUNDED_ASM, {}), prog_type="xdp", log_level=log_level, cancel=cancelled)
    assert ei.value.kind == errno.ECANCELED
    assert ei.value.summary == "verification cancelled"
    assert len(asked) == 4


def test_cancel_event_from_another_thread():
    ev = threading.Event()
    t = threading.Timer(0.05, ev.set)
    t.start()
    try:
        with pytest.raises(VerifierAborted) as ei:
            verify(assemble(UNBOUNDED_ASM, {}), prog_type="xdp", log_level=0, cancel=ev)
    finally:
        t.cancel()
    assert ei.value.kind == errno.ECANCELED


@pytest.mark.parametrize("log_level", [0, 1])
def test_states_cap(log_level):
    insns = assemble(loop22_asm(2000), {})
    v = verify(insns, prog_type="xdp", log_level=0)
    assert v.peak_states > 20
    with pytest.raises(VerifierAborted) as ei:
        verify(insns, prog_type="xdp", log_level=log_level, max_states=20)
    assert ei.value.kind == errno.ENOMEM
    assert ei.value.summary == "verification exceeded 20 states"
    # within the cap the verdict and the work are the kernel's, untouched
    w = verify(insns, prog_type="xdp", log_level=log_level, max_states=v.peak_states, deadline=600,
               cancel=threading.Event())
    assert (w.insn_processed, w.peak_states) == (v.insn_processed, v.peak_states)


def test_an_abort_is_a_verifier_error_with_the_log():
    with pytest.raises(VerifierError) as ei:
        verify(assemble(UNBOUNDED_ASM, {}), prog_type="xdp", log_level=1, deadline=0.01)
    assert ei.value.log.startswith("; dataplane verifier")


class _Job:
    """The service's load job as the verifier sees it (service/verifypool.py
    Job): a cancel flag that also turns on past its monotonic deadline."""

    def __init__(self, seconds):
        import time
        self.deadline = time.monotonic() + seconds
        self.stopped = False

    def is_set(self):
        import time
        return self.stopped or time.monotonic() > self.deadline


def test_bounds_mapping():
    with pytest.raises(VerifierAborted) as ei:
        verify(assemble(UNBOUNDED_ASM, {}), prog_type="xdp", log_level=0, bounds={"deadline": 0.05})
    assert ei.value.kind == errno.ETIMEDOUT


def test_bounds_job_past_its_deadline_is_a_timeout():
    # the job's flag is set once its deadline passed: the verifier reports
    # the timeout (DEADLINE_EXCEEDED over gRPC), not a cancellation
    with pytest.raises(VerifierAborted) as ei:
        verify(assemble(UNBOUNDED_ASM, {}), prog_type="xdp", log_level=0, bounds=_Job(0.05))
    assert ei.value.kind == errno.ETIMEDOUT
    assert ei.value.summary.startswith("verification exceeded 0.0")


def test_bounds_job_stopped_is_a_cancellation():
    job = _Job(600)
    job.stopped = True
    with pytest.raises(VerifierAborted) as ei:
        verify(assemble(UNBOUNDED_ASM, {}), prog_type="xdp", log_level=0, bounds=job)
    assert ei.value.kind == errno.ECANCELED
