"""kfuncs: the kernel's "unstable" functions served by dataplane.

``default_registry()`` gives, for a collection, kfunc names -> indices, the
HelperTable of C implementations, verifier prototypes and object layouts
(registry.py). The conntrack kfuncs (ct_kfuncs.pyx, csrc/) act on the
ConntrackTable a Runner's CtContext names. ``btf_types`` holds the runtime's
own BTF (struct nf_conn, bpf_ct_opts, bpf_sock_tuple) CO-RE relocations are
resolved against.
"""
from dataplane.kfuncs.registry import (KF_ACQUIRE, KF_RELEASE, KF_RET_NULL, KF_TRUSTED_ARGS,  # noqa: F401
                                       Kfunc, KfuncRegistry, default_registry)

# name -> KfuncProto: what Collection hands the verifier (runtime/collection.py _kfunc_protos)
KFUNC_PROTOS = {k.name: k.proto for k in default_registry().kfuncs}
