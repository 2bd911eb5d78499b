/*
 * switch_aarch64.S - the coroutine context switch for aarch64 (AAPCS64).
 *
 * A suspended context is its stack pointer alone: the callee-saved registers
 * x19-x29, the link register x30, the low halves d8-d15 of v8-v15 and the
 * floating-point control register FPCR are stored in a 176-byte frame on its
 * own stack before the switch, and loaded after it (FPCR not when built with
 * MT_CORO_FPU_PER_THREAD: see switch_x86_64.S).
 *
 *   void mt__ctx_swap(void **from_sp, void *to_sp);
 *   void mt__ctx_entry(void);   first "return address" of a new context
 */
    .text

    .globl mt__ctx_swap
    .hidden mt__ctx_swap
    .type mt__ctx_swap, %function
    .p2align 4
mt__ctx_swap:
    .cfi_startproc
    sub sp, sp, #176
    .cfi_adjust_cfa_offset 176
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
#ifndef MT_CORO_FPU_PER_THREAD
    mrs x9, fpcr
    str x9, [sp, #160]
#endif
    mov x9, sp
    str x9, [x0]
    mov sp, x1
#ifndef MT_CORO_FPU_PER_THREAD
    ldr x9, [sp, #160]
    msr fpcr, x9
#endif
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    add sp, sp, #176
    .cfi_adjust_cfa_offset -176
    ret
    .cfi_endproc
    .size mt__ctx_swap, .-mt__ctx_swap

/* A new context starts here with the entry function in x19 and its argument
 * in x20 (see mt__ctx_make); the entry function never returns. */
    .globl mt__ctx_entry
    .hidden mt__ctx_entry
    .type mt__ctx_entry, %function
    .p2align 4
mt__ctx_entry:
    .cfi_startproc
    .cfi_undefined x30
    mov x29, #0
    mov x0, x20
    blr x19
    brk #0
    .cfi_endproc
    .size mt__ctx_entry, .-mt__ctx_entry

    .section .note.GNU-stack,"",@progbits
