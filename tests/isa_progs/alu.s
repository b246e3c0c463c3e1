mov %r0, 0
mov %r1, 7
mov32 %r2, -3
mov %r3, %r1
mov32 %r4, %r2
add %r0, 1
add %r0, %r1
add32 %r2, -1
add32 %r2, %r4
sub %r0, 2
sub %r0, %r1
sub32 %r2, 3
sub32 %r2, %r4
mul %r0, 3
mul %r0, %r1
mul32 %r2, 5
mul32 %r2, %r4
div %r0, 2
div %r0, %r1
div32 %r2, 3
div32 %r2, %r4
sdiv %r0, -2
sdiv %r0, %r1
sdiv32 %r2, 3
sdiv32 %r2, %r4
mod %r0, 5
mod %r0, %r1
mod32 %r2, 7
mod32 %r2, %r4
smod %r0, -5
smod %r0, %r1
smod32 %r2, 7
smod32 %r2, %r4
or %r0, 0x10
or %r0, %r1
or32 %r2, 0x20
or32 %r2, %r4
and %r0, 0xff
and %r0, %r1
and32 %r2, 0xff
and32 %r2, %r4
lsh %r0, 3
lsh %r0, %r1
lsh32 %r2, 4
lsh32 %r2, %r4
rsh %r0, 1
rsh %r0, %r1
rsh32 %r2, 2
rsh32 %r2, %r4
arsh %r0, 1
arsh %r0, %r1
arsh32 %r2, 2
arsh32 %r2, %r4
xor %r0, 0x55
xor %r0, %r1
xor32 %r2, 0x66
xor32 %r2, %r4
neg %r0
neg32 %r2
movsx864 %r5, %r1
movsx1664 %r5, %r1
movsx3264 %r5, %r1
movsx832 %r6, %r2
movsx1632 %r6, %r2
be16 %r5
be32 %r5
be64 %r5
le16 %r6
le32 %r6
le64 %r6
bswap16 %r5
bswap32 %r5
bswap64 %r5
lddw %r7, 0x1122334455667788
lddw %r8, -1
mov %r0, 0
exit
