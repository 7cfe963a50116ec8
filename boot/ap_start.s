# Real-mode entry of the application processors (the SMP trampoline).
#
# Assembled by cllm_build/steps/assemble.py with Keystone (Intel syntax) at its run
# address 0x7000 and linked into .rodata between smp_trampoline_start and
# smp_trampoline_end; kernel/core/smp.c copies it to 0x7000 and sends each processor
# a STARTUP IPI with vector 0x07, so it begins here in real mode with CS = 0x0700,
# IP = 0, interrupts off. `cllm verify` checks that the linked bytes decode to exactly
# these instructions (16-bit up to .code32, 32-bit after it).
#
# smp.c writes the parameters at 0x7F00 before each start:
#   0x7F00 GDT pointer (limit, base)  0x7F08 a flat GDT: null, code 0x08, data 0x10
#   0x7F20 CR3 (the boot CPU's page directory)  0x7F24 CR4 (PSE as on the boot CPU)
#   0x7F28 top of this processor's stack  0x7F2C address of smp_ap_main
# Nothing here touches the FPU or SSE: smp_ap_main enables them like cpu_init.

.code16
ap_start:
    cli
    cld
    ljmp 0:ap_real                   # CS = 0, so labels are linear addresses
ap_real:
    xor ax, ax
    mov ds, ax
    lgdt [0x7f00]
    mov eax, cr0
    or eax, 1                        # CR0.PE
    mov cr0, eax
    ljmp 0x08:ap_protected
.code32
ap_protected:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    mov eax, dword ptr [0x7f24]
    mov cr4, eax
    mov eax, dword ptr [0x7f20]
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000               # CR0.PG
    mov cr0, eax
    mov esp, dword ptr [0x7f28]
    xor ebp, ebp                     # terminates the frame-pointer chain for stack traces
    push 0
    popfd                            # clear EFLAGS (AC, NT, IF, DF)
    mov eax, dword ptr [0x7f2c]
    call eax
ap_hang:
    cli
    hlt
    jmp ap_hang
