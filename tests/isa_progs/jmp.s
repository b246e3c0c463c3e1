mov %r0, 0
mov %r1, 5
mov %r2, 9
jeq %r1, 1, +0
jeq %r1, %r2, +0
jgt %r1, 2, +0
jgt %r1, %r2, +0
jge %r1, 3, +0
jge %r1, %r2, +0
jlt %r1, 4, +0
jlt %r1, %r2, +0
jle %r1, 5, +0
jle %r1, %r2, +0
jset %r1, 0x80000000, +0
jset %r1, %r2, +0
jne %r1, -1, +0
jne %r1, %r2, +0
jsgt %r1, -7, +0
jsgt %r1, %r2, +0
jsge %r1, 8, +0
jsge %r1, %r2, +0
jslt %r1, 9, +0
jslt %r1, %r2, +0
jsle %r1, 10, +0
jsle %r1, %r2, +0
jeq32 %r1, 1, +0
jeq32 %r1, %r2, +0
jgt32 %r1, 2, +0
jgt32 %r1, %r2, +0
jge32 %r1, 3, +0
jge32 %r1, %r2, +0
jlt32 %r1, 4, +0
jlt32 %r1, %r2, +0
jle32 %r1, 5, +0
jle32 %r1, %r2, +0
jset32 %r1, 6, +0
jset32 %r1, %r2, +0
jne32 %r1, -1, +0
jne32 %r1, %r2, +0
jsgt32 %r1, -7, +0
jsgt32 %r1, %r2, +0
jsge32 %r1, 8, +0
jsge32 %r1, %r2, +0
jslt32 %r1, 9, +0
jslt32 %r1, %r2, +0
jsle32 %r1, 10, +0
jsle32 %r1, %r2, +1
ja +0
ja32 +0
call 7
call local sub
exit
sub:
mov %r0, 1
exit
