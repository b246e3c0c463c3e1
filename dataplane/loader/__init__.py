"""ELF object loader: clang-compiled BPF objects -> pure-data specs.

    from dataplane.loader import load_object
    spec = load_object("prog.o")        # ObjectSpec
    spec.programs["xdp_prog"].insns     # linked bytecode with placeholders
    spec.maps["counters"].map_type      # MapSpec

Program and attach type numbers are kernel ABI: dataplane.abi.progs.
"""
from .btf import Btf, BtfExt, BtfType, CoreRelo, FuncInfo, LineInfo, Member, parse_btf, parse_btf_ext
from .elf import load_object
from .maps import internal_map_name, object_name
from .sections import classify
from .spec import INSN_SIZE, MapSpec, ObjectSpec, ProgramSpec, Relocation

__all__ = [
    "load_object", "ObjectSpec", "ProgramSpec", "MapSpec", "Relocation", "INSN_SIZE",
    "Btf", "BtfExt", "BtfType", "Member", "FuncInfo", "LineInfo", "CoreRelo",
    "parse_btf", "parse_btf_ext", "internal_map_name", "object_name", "classify",
]
