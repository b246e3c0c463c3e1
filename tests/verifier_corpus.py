"""Corpus for the verifier-vs-kernel agreement tests.

Each entry: name -> (prog_type, maps, asm[, license]).  ``ldmap %rN, NAME``
lines load a map pointer (lddw src=1); maps are (map_type, key, value, max).
The expected verdict is never written here: the kernel decides it.
"""
HASH = (1, 4, 8, 16)
ARRAY = (2, 4, 16, 4)
RINGBUF = (27, 0, 0, 4096)
DEVMAP = (14, 4, 4, 4)

PKT = """
ldxw %r2, [%r1+0]
ldxw %r3, [%r1+4]
"""

LOOKUP = """
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
ldmap %r1, m
call 1
"""

CORPUS = {
    # ----------------------------------------------------------------- accepts
    "ret_const": ("xdp", {}, "mov %r0, 2\nexit"),
    "pkt_eth": ("xdp", {}, "mov %r0, 1\n" + PKT + """
mov %r4, %r2
add %r4, 14
jgt %r4, %r3, out
ldxh %r0, [%r2+12]
out:
exit"""),
    "pkt_eth_ip_orient": ("xdp", {}, "mov %r0, 1\n" + PKT + """
mov %r4, %r2
add %r4, 34
jle %r3, %r4, out
ldxb %r0, [%r2+23]
ldxw %r5, [%r2+30]
out:
exit"""),
    "pkt_lt_orient": ("xdp", {}, "mov %r0, 1\n" + PKT + """
mov %r4, %r2
add %r4, 20
jlt %r4, %r3, ok
exit
ok:
ldxb %r0, [%r2+18]
exit"""),
    "pkt_var_off": ("xdp", {}, "mov %r0, 2\n" + PKT + """
mov %r4, %r2
add %r4, 15
jgt %r4, %r3, out
ldxb %r5, [%r2+14]
and %r5, 15
lsh %r5, 2
mov %r6, %r2
add %r6, %r5
mov %r7, %r6
add %r7, 8
jgt %r7, %r3, out
ldxb %r0, [%r6+7]
out:
exit"""),
    "map_lookup_atomic": ("xdp", {"m": HASH}, LOOKUP + """
jeq %r0, 0, out
mov %r1, 1
lock add [%r0+0], %r1
out:
mov %r0, 2
exit"""),
    "array_var_index": ("xdp", {"m": ARRAY}, LOOKUP + """
jeq %r0, 0, out
call 7
mov %r6, %r0
and %r6, 7
mov %r0, 0
exit
out:
mov %r0, 2
exit"""),
    "array_bounded_index": ("xdp", {"m": ARRAY}, LOOKUP + """
jne %r0, 0, found
mov %r0, 0
exit
found:
mov %r6, %r0
call 7
and %r0, 12
add %r6, %r0
ldxw %r0, [%r6+0]
exit"""),
    "bounded_loop": ("xdp", {}, """
mov %r1, 0
mov %r0, 0
loop:
add %r0, %r1
add %r1, 1
jlt %r1, 10, loop
exit"""),
    "spill_ctx": ("xdp", {}, """
stxdw [%r10-8], %r1
mov %r1, 0
ldxdw %r6, [%r10-8]
ldxw %r0, [%r6+16]
exit"""),
    "spill_pkt_range": ("xdp", {}, "mov %r0, 1\n" + PKT + """
mov %r4, %r2
add %r4, 8
jgt %r4, %r3, out
stxdw [%r10-16], %r2
call 7
ldxdw %r2, [%r10-16]
ldxdw %r0, [%r2+0]
out:
exit"""),
    "subprog_call": ("xdp", {}, """
call local f
exit
f:
mov %r0, 1
exit"""),
    "subprog_stack_arg": ("xdp", {}, """
stdw [%r10-8], 7
mov %r1, %r10
add %r1, -8
call local f
exit
f:
ldxdw %r0, [%r1+0]
exit"""),
    "ringbuf_submit": ("xdp", {"rb": RINGBUF}, """
ldmap %r1, rb
mov %r2, 16
mov %r3, 0
call 131
jeq %r0, 0, out
stdw [%r0+8], 1
mov %r1, %r0
mov %r2, 0
call 132
out:
mov %r0, 2
exit"""),
    "ringbuf_discard": ("xdp", {"rb": RINGBUF}, """
ldmap %r1, rb
mov %r2, 8
mov %r3, 0
call 131
mov %r6, %r0
jne %r6, 0, have
mov %r0, 2
exit
have:
mov %r1, %r6
mov %r2, 0
call 133
mov %r0, 2
exit"""),
    "jmp32_refine": ("xdp", {"m": ARRAY}, LOOKUP + """
jeq %r0, 0, out
mov %r6, %r0
call 7
jgt32 %r0, 12, out
add %r6, %r0
ldxb %r0, [%r6+3]
exit
out:
mov %r0, 0
exit"""),
    "signed_index": ("xdp", {"m": ARRAY}, LOOKUP + """
jeq %r0, 0, out
mov %r6, %r0
call 7
jsgt %r0, 8, out
jslt %r0, 0, out
add %r6, %r0
ldxdw %r0, [%r6+0]
exit
out:
mov %r0, 0
exit"""),
    "linked_scalars": ("xdp", {"m": ARRAY}, LOOKUP + """
jeq %r0, 0, out
mov %r6, %r0
call 7
mov %r7, %r0
mov %r8, %r7
jgt %r8, 15, out
add %r6, %r7
ldxb %r0, [%r6+0]
exit
out:
mov %r0, 0
exit"""),
    "socket_len": ("socket", {}, "ldxw %r0, [%r1+0]\nexit"),
    "socket_cb_write": ("socket", {}, "stw [%r1+48], 1\nldxb %r0, [%r1+4]\nexit"),
    "socket_ld_abs": ("socket", {}, "mov %r6, %r1\nldabsh 12\nexit"),
    "map_update": ("xdp", {"m": HASH}, """
stw [%r10-4], 1
stdw [%r10-16], 5
ldmap %r1, m
mov %r2, %r10
add %r2, -4
mov %r3, %r10
add %r3, -16
mov %r4, 0
call 2
mov %r0, 2
exit"""),
    "redirect_map": ("xdp", {"d": DEVMAP}, """
ldmap %r1, d
mov %r2, 0
mov %r3, 0
call 51
exit"""),
    "adjust_head_reload": ("xdp", {}, """
mov %r6, %r1
mov %r2, -4
call 44
ldxw %r2, [%r6+0]
ldxw %r3, [%r6+4]
mov %r0, 1
mov %r4, %r2
add %r4, 1
jgt %r4, %r3, out
ldxb %r0, [%r2+0]
out:
exit"""),
    "csum_diff_stack": ("xdp", {}, """
stdw [%r10-8], 0
stdw [%r10-16], 0
mov %r1, %r10
add %r1, -8
mov %r2, 8
mov %r3, %r10
add %r3, -16
mov %r4, 8
mov %r5, 0
call 28
exit"""),
    "printk_gpl": ("xdp", {}, """
stdw [%r10-8], 0
mov %r1, %r10
add %r1, -8
mov %r2, 8
call 6
mov %r0, 2
exit"""),
    "pkt_ge_orient": ("xdp", {}, "mov %r0, 1\n" + PKT + """
mov %r4, %r2
add %r4, 16
jge %r4, %r3, out
ldxw %r0, [%r2+12]
ldxb %r0, [%r2+16]
out:
exit"""),
    "pkt_end_ge_orient": ("xdp", {}, "mov %r0, 1\n" + PKT + """
mov %r4, %r2
add %r4, 16
jge %r3, %r4, ok
exit
ok:
ldxw %r0, [%r2+12]
exit"""),
    "pkt_meta_check": ("xdp", {}, """
mov %r0, 2
ldxw %r2, [%r1+8]
ldxw %r3, [%r1+0]
mov %r4, %r2
add %r4, 4
jgt %r4, %r3, out
ldxw %r0, [%r2+0]
out:
exit"""),
    "stack_var_write": ("xdp", {}, """
call 7
and %r0, 8
mov %r1, %r10
add %r1, -16
add %r1, %r0
stdw [%r1+0], 1
mov %r0, 0
exit"""),
    "jset_refine": ("xdp", {"m": ARRAY}, LOOKUP + """
jeq %r0, 0, out
mov %r6, %r0
call 7
and %r0, 7
jset %r0, 4, out
add %r6, %r0
ldxdw %r0, [%r6+8]
exit
out:
mov %r0, 0
exit"""),
    "narrow_spill_fill": ("xdp", {"m": ARRAY}, LOOKUP + """
jeq %r0, 0, out
mov %r6, %r0
call 7
and %r0, 7
stxw [%r10-16], %r0
ldxw %r1, [%r10-16]
add %r6, %r1
ldxdw %r0, [%r6+0]
exit
out:
mov %r0, 0
exit"""),
    "helper_zero_size": ("xdp", {}, """
stdw [%r10-8], 0
mov %r1, %r10
add %r1, -8
mov %r2, 0
call 6
mov %r0, 2
exit"""),
    "ptr_mul": ("xdp", {}, "mul %r1, 2\nmov %r0, 0\nexit"),
    "ptr_plus_ptr": ("xdp", {}, "mov %r2, %r1\nadd %r1, %r2\nmov %r0, 0\nexit"),
    "map_value_var_negative_helper": ("xdp", {}, """
stdw [%r10-8], 0
call 7
mov %r2, %r0
mov %r1, %r10
add %r1, -8
jgt %r2, 8, out
call 6
out:
mov %r0, 2
exit"""),
    "uninit_stack_read_priv": ("xdp", {}, "ldxdw %r0, [%r10-8]\nexit"),
    "ptr_return": ("xdp", {}, "mov %r0, %r1\nexit"),
    # ----------------------------------------------------------------- rejects
    "no_r0": ("xdp", {}, "exit"),
    "pkt_unchecked": ("xdp", {}, PKT + "ldxb %r0, [%r2+13]\nexit"),
    "pkt_beyond_check": ("xdp", {}, "mov %r0, 1\n" + PKT + """
mov %r4, %r2
add %r4, 14
jgt %r4, %r3, out
ldxh %r0, [%r2+13]
out:
exit"""),
    "pkt_var_unchecked": ("xdp", {}, "mov %r0, 2\n" + PKT + """
mov %r4, %r2
add %r4, 15
jgt %r4, %r3, out
ldxb %r5, [%r2+14]
add %r2, %r5
ldxb %r0, [%r2+0]
out:
exit"""),
    "ctx_oob": ("xdp", {}, "ldxw %r0, [%r1+24]\nexit"),
    "ctx_narrow_xdp": ("xdp", {}, "ldxb %r0, [%r1+0]\nexit"),
    "ctx_write_xdp": ("xdp", {}, "stxw [%r1+12], %r1\nmov %r0, 0\nexit"),
    "ctx_modified": ("xdp", {}, "add %r1, 4\nldxw %r0, [%r1+0]\nexit"),
    "socket_direct_pkt": ("socket", {}, "ldxw %r0, [%r1+76]\nexit"),
    "xdp_ld_abs": ("xdp", {}, "mov %r6, %r1\nldabsh 12\nexit"),
    "map_no_null_check": ("xdp", {"m": HASH}, LOOKUP + "ldxdw %r0, [%r0+0]\nexit"),
    "map_value_oob": ("xdp", {"m": HASH}, LOOKUP + "jeq %r0, 0, out\nldxw %r0, [%r0+8]\nout:\nexit"),
    "map_value_var_oob": ("xdp", {"m": ARRAY}, LOOKUP + """
jeq %r0, 0, out
mov %r6, %r0
call 7
and %r0, 255
add %r6, %r0
ldxb %r0, [%r6+0]
out:
exit"""),
    "map_value_negative": ("xdp", {"m": ARRAY}, LOOKUP + """
jeq %r0, 0, out
mov %r6, %r0
call 7
jsgt %r0, 8, out
add %r6, %r0
ldxb %r0, [%r6+0]
out:
exit"""),
    "scalar_deref": ("xdp", {}, "mov %r1, 0\nldxw %r0, [%r1+0]\nexit"),
    "uninit_reg": ("xdp", {}, "mov %r0, %r3\nexit"),
    "r1_after_call": ("xdp", {}, "call 7\nmov %r0, %r1\nexit"),
    "jump_out_of_range": ("xdp", {}, "ja +5\nexit"),
    "unreachable": ("xdp", {}, "mov %r0, 0\nexit\nmov %r0, 1\nexit"),
    "no_exit": ("xdp", {}, "mov %r0, 0\nmov %r0, 1"),
    "infinite_loop_self": ("xdp", {}, "mov %r0, 0\nl:\nja l\nexit"),
    "infinite_loop_same_state": ("xdp", {}, """
mov %r1, 0
mov %r0, 0
l:
add %r1, 0
jlt %r1, 10, l
exit"""),
    "or_null_arith": ("xdp", {"m": HASH}, LOOKUP + "add %r0, 1\nmov %r0, 0\nexit"),
    "ptr_bitwise": ("xdp", {}, "and %r1, 1\nmov %r0, 0\nexit"),
    "pkt_end_arith": ("xdp", {}, PKT + "add %r3, 1\nmov %r0, 0\nexit"),
    "ptr_alu32": ("xdp", {}, "add32 %r1, 1\nmov %r0, 0\nexit"),
    "stack_oob": ("xdp", {}, "stdw [%r10-520], 0\nmov %r0, 0\nexit"),
    "stack_read_positive": ("xdp", {}, "ldxdw %r0, [%r10+8]\nexit"),
    "stack_misaligned": ("xdp", {}, "stdw [%r10-7], 0\nmov %r0, 0\nexit"),
    "spill_narrow_ptr": ("xdp", {}, "stxw [%r10-8], %r1\nmov %r0, 0\nexit"),
    "fp_sub": ("xdp", {}, "mov %r1, %r10\nsub %r1, 8\nstdw [%r1+0], 0\nmov %r0, 0\nexit"),
    "scalar_minus_ptr": ("xdp", {}, "mov %r0, 1\nsub %r0, %r1\nexit"),
    "fp_write": ("xdp", {}, "mov %r10, 0\nmov %r0, 0\nexit"),
    "div_zero_imm": ("xdp", {}, "mov %r0, 1\ndiv %r0, 0\nexit"),
    "helper_key_scalar": ("xdp", {"m": HASH}, "ldmap %r1, m\nmov %r2, 0\ncall 1\nmov %r0, 0\nexit"),
    "helper_map_scalar": ("xdp", {}, "mov %r1, 0\nmov %r2, %r10\nadd %r2, -8\ncall 1\nmov %r0, 0\nexit"),
    "helper_key_oob": ("xdp", {"m": HASH}, "ldmap %r1, m\nmov %r2, %r10\nadd %r2, -2\ncall 1\nmov %r0, 0\nexit"),
    "helper_unknown": ("xdp", {}, "call 300\nmov %r0, 0\nexit"),
    "helper_wrong_prog_type": ("xdp", {}, "call 26\nmov %r0, 0\nexit"),
    "helper_gpl": ("xdp", {}, """
stdw [%r10-8], 0
mov %r1, %r10
add %r1, -8
mov %r2, 8
call 6
mov %r0, 2
exit""", "MIT"),
    "helper_size_unbounded": ("xdp", {}, """
stdw [%r10-8], 0
call 7
mov %r2, %r0
mov %r1, %r10
add %r1, -8
call 6
mov %r0, 2
exit"""),
    "helper_map_type": ("xdp", {"m": HASH}, "ldmap %r1, m\nmov %r2, 0\nmov %r3, 0\ncall 51\nexit"),
    "ringbuf_leak": ("xdp", {"rb": RINGBUF}, "ldmap %r1, rb\nmov %r2, 8\nmov %r3, 0\ncall 131\nmov %r0, 0\nexit"),
    "ringbuf_submit_null": ("xdp", {"rb": RINGBUF}, """
ldmap %r1, rb
mov %r2, 8
mov %r3, 0
call 131
mov %r1, %r0
mov %r2, 0
call 132
mov %r0, 0
exit"""),
    "ringbuf_use_after_submit": ("xdp", {"rb": RINGBUF}, """
ldmap %r1, rb
mov %r2, 8
mov %r3, 0
call 131
jeq %r0, 0, out
mov %r6, %r0
mov %r1, %r0
mov %r2, 0
call 132
stdw [%r6+0], 1
out:
mov %r0, 0
exit"""),
    "ringbuf_double_submit": ("xdp", {"rb": RINGBUF}, """
ldmap %r1, rb
mov %r2, 8
mov %r3, 0
call 131
jeq %r0, 0, out
mov %r6, %r0
mov %r1, %r0
mov %r2, 0
call 132
mov %r1, %r6
mov %r2, 0
call 132
out:
mov %r0, 0
exit"""),
    "ringbuf_oob": ("xdp", {"rb": RINGBUF}, """
ldmap %r1, rb
mov %r2, 8
mov %r3, 0
call 131
jeq %r0, 0, out
stdw [%r0+8], 1
mov %r1, %r0
mov %r2, 0
call 132
out:
mov %r0, 0
exit"""),
    "call_too_deep": ("xdp", {}, "\n".join(
        [f"call local f{i + 1}\nexit\nf{i + 1}:" for i in range(8)]) + "\nmov %r0, 0\nexit"),
    "combined_stack": ("xdp", {}, """
stdw [%r10-256], 0
call local f
exit
f:
stdw [%r10-300], 0
mov %r0, 0
exit"""),
    "subprog_jump_out": ("xdp", {}, """
call local f
l:
exit
f:
mov %r0, 0
ja l
exit"""),
    "subprog_ret_ptr": ("xdp", {}, """
mov %r6, %r1
call local f
mov %r0, 0
exit
f:
mov %r0, %r10
exit"""),
}

# bpf_loop callbacks need BTF func_info in the kernel, so these run on dataplane only.
NO_BTF_CORPUS = {
    "bpf_loop_cb": ("xdp", {}, """
mov %r1, 4
ldfunc %r2, +6
mov %r3, 0
mov %r4, 0
call 181
mov %r0, 2
exit
cb:
mov %r0, 0
exit"""),
    "loop_cb_bad_ret": ("xdp", {}, """
mov %r1, 4
ldfunc %r2, +6
mov %r3, 0
mov %r4, 0
call 181
mov %r0, 2
exit
cb:
mov %r0, 5
exit"""),
}
