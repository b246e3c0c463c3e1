"""kfuncs: the kernel's "unstable" functions served by dataplane.

``default_registry()`` is the KfuncProvider a Collection is loaded with
(``Collection.load(obj, kfuncs=default_registry())``): kfunc names ->
indices, the HelperTable of C implementations, the kernel's prototypes
(abi/kfuncs.py), this runtime's object layouts and BTF, and ``bind()``,
which gives a collection its conntrack table (registry.py). The conntrack
kfuncs (ct_kfuncs.pyx, csrc/) act on the ConntrackTable a Runner's
CtContext names. ``btf_types`` holds the runtime's own BTF (struct nf_conn,
bpf_ct_opts, bpf_sock_tuple) CO-RE relocations are resolved against.
"""
from dataplane.kfuncs.registry import (KF_ACQUIRE, KF_RELEASE, KF_RET_NULL, KF_TRUSTED_ARGS,  # noqa: F401
                                       Kfunc, KfuncRegistry, default_registry)
