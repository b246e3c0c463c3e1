"""Instruction set: opcodes, Instruction (decode/encode), assembler, disassembler."""
from dataplane.isa.instruction import Instruction, decode, encode, slot_indices  # noqa: F401
