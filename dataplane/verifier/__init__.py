"""The dataplane BPF verifier: proves a program safe before it runs natively.

``verify(insns, prog_type=..., maps=..., license=..., kfuncs=...)`` returns a
:class:`VerifiedProgram` or raises :class:`dataplane.errors.VerifierError`
whose summary is the kernel's error line for the same program.  Kfunc
prototypes and flags (KfuncProto, KF_*) are kernel ABI: dataplane.abi.kfuncs.
"""
from dataplane.errors import VerifierAborted
from dataplane.verifier.core import verify
from dataplane.verifier.insn_check import decode_program
from dataplane.verifier.types import InsnAux, MapInfo, VerifiedProgram

__all__ = ["verify", "VerifierAborted",
           "decode_program", "MapInfo", "VerifiedProgram", "InsnAux"]
