mov %r1, 1
stdw [%r10-8], 0
stdw [%r10-16], -2
stw [%r10-20], 3
sth [%r10-22], 4
stb [%r10-23], 5
stb [%r10-24], 6
stxdw [%r10-32], %r1
stxw [%r10-36], %r1
stxh [%r10-38], %r1
stxb [%r10-39], %r1
stxb [%r10-40], %r1
ldxdw %r2, [%r10-8]
ldxw %r3, [%r10-20]
ldxh %r4, [%r10-22]
ldxb %r5, [%r10-23]
ldxsw %r3, [%r10-20]
ldxsh %r4, [%r10-22]
ldxsb %r5, [%r10-23]
lock add [%r10-8], %r1
lock and [%r10-8], %r1
lock or [%r10-8], %r1
lock xor [%r10-8], %r1
lock add32 [%r10-16], %r1
lock and32 [%r10-16], %r1
lock or32 [%r10-16], %r1
lock xor32 [%r10-16], %r1
lock fetch add [%r10-8], %r2
lock fetch and [%r10-8], %r2
lock fetch or [%r10-8], %r2
lock fetch xor [%r10-8], %r2
lock fetch add32 [%r10-16], %r3
lock fetch and32 [%r10-16], %r3
lock fetch or32 [%r10-16], %r3
lock fetch xor32 [%r10-16], %r3
lock xchg [%r10-8], %r4
lock xchg32 [%r10-16], %r5
mov %r0, 0
lock cmpxchg [%r10-8], %r1
mov %r0, 0
lock cmpxchg32 [%r10-16], %r1
mov %r0, 0
exit
