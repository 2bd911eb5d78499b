/*
 * switch_x86_64.S - the coroutine context switch for x86-64 (System V ABI).
 *
 * A suspended context is its stack pointer alone: the callee-saved registers
 * (rbx, rbp, r12-r15), the SSE control word (MXCSR) and the x87 control word
 * are stored in a 56-byte frame on its own stack before the switch, and
 * loaded after it. The caller-saved registers need no saving: mt__ctx_swap
 * is an ordinary call. The control words are loaded only when they differ
 * from the ones in force (loading them is slow); built with
 * MT_CORO_FPU_PER_THREAD they are not saved at all, which saves about 3 ns a
 * switch but makes fesetround() & co. apply to every coroutine of the
 * thread.
 *
 * It returns with `ret`, which keeps the CPU's return-address predictor in
 * step: tasks suspend from the same few call sites, so the return into the
 * next task is predicted. (Popping the address and jumping to it, as
 * Boost.Context does, wins a ping-pong between two call sites but costs
 * the scheduler's yield twice as much: every later return mispredicts.)
 *
 *   void mt__ctx_swap(void **from_sp, void *to_sp);
 *   void mt__ctx_entry(void);   first "return address" of a new context
 */
    .text

    .globl mt__ctx_swap
    .hidden mt__ctx_swap
    .type mt__ctx_swap, @function
    .p2align 4
mt__ctx_swap:
    .cfi_startproc
    endbr64
    leaq -56(%rsp), %rsp
    .cfi_adjust_cfa_offset 56
#ifndef MT_CORO_FPU_PER_THREAD
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
#endif
    movq %rbp, 8(%rsp)
    movq %rbx, 16(%rsp)
    movq %r12, 24(%rsp)
    movq %r13, 32(%rsp)
    movq %r14, 40(%rsp)
    movq %r15, 48(%rsp)
#ifndef MT_CORO_FPU_PER_THREAD
    /* Read each word back at the size it was stored (a load spanning both
     * stores would not be forwarded from them and would stall). */
    movl (%rsp), %eax
    movzwl 4(%rsp), %ecx
#endif
    movq %rsp, (%rdi)
    movq %rsi, %rsp
#ifndef MT_CORO_FPU_PER_THREAD
    cmpl (%rsp), %eax
    jne 1f
    cmpw 4(%rsp), %cx
    jne 1f
#endif
2:  movq 8(%rsp), %rbp
    movq 16(%rsp), %rbx
    movq 24(%rsp), %r12
    movq 32(%rsp), %r13
    movq 40(%rsp), %r14
    movq 48(%rsp), %r15
    leaq 56(%rsp), %rsp
    .cfi_adjust_cfa_offset -56
    ret
    .cfi_adjust_cfa_offset 56
    /* Load the control words only when they differ: loading is slow. */
1:  ldmxcsr (%rsp)
    fldcw 4(%rsp)
    jmp 2b
    .cfi_endproc
    .size mt__ctx_swap, .-mt__ctx_swap

/* A new context starts here with the entry function in r12 and its argument
 * in r13 (see mt__ctx_make); the entry function never returns. */
    .globl mt__ctx_entry
    .hidden mt__ctx_entry
    .type mt__ctx_entry, @function
    .p2align 4
mt__ctx_entry:
    .cfi_startproc
    .cfi_undefined rip
    endbr64
    movq %r13, %rdi
    callq *%r12
    ud2
    .cfi_endproc
    .size mt__ctx_entry, .-mt__ctx_entry

    .section .note.GNU-stack,"",@progbits
