mov %r6, %r1
mov %r7, 2
ldabsb 14
ldabsh 12
ldabsw 0
ldindb %r7, 1
ldindh %r7, -2
ldindw %r7, 4
mov %r0, 0
exit
