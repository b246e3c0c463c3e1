"""RCU read-side sections (bpf_rcu_read_lock / bpf_rcu_read_unlock) as the
kernel's verifier tracks them: check_kfunc_call keeps one flag per state
(active_rcu_lock in 6.18: a second lock is "nested", not counted), an
unlock without the lock is refused, and check_resource_leak refuses the
main program's exit and a tail call inside a section (after the reference
leak check, as the kernel orders them).  A static subprogram may take or
drop the lock for its caller: only the main program's exit is checked.

Not reachable for the program types dataplane runs: "kernel func %s is
sleepable within rcu_read_lock region" (XDP and tc programs are never
sleepable, so a sleepable kfunc is refused before that) and the RCU-tagged
pointers (MEM_RCU) an unlock turns untrusted (no kfunc here returns one).
States compare the flag (refsafe), in equiv.pyx.
"""
from __future__ import annotations

RCU_LOCK, RCU_UNLOCK = "bpf_rcu_read_lock", "bpf_rcu_read_unlock"


def kfunc(v, st, name: str) -> None:
    """The RCU part of check_kfunc_call for the kfunc ``name``."""
    if st.active_rcu:
        if name == RCU_LOCK:
            v.fail(f"nested rcu read lock (kernel function {name})")
        if name == RCU_UNLOCK:
            st.active_rcu = 0
    elif name == RCU_LOCK:
        st.active_rcu = 1
    elif name == RCU_UNLOCK:
        v.fail(f"unmatched rcu read unlock (kernel function {name})")


def check_leak(v, st, prefix: str) -> None:
    """check_resource_leak's RCU line (check_lock: the main program)."""
    if st.active_rcu:
        v.fail(f"{prefix} cannot be used inside bpf_rcu_read_lock-ed region")
