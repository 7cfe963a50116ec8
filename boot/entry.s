# Multiboot (v1) header and the 32-bit entry stub of cllm.
#
# Assembled by cllm_build/steps/assemble.py with Keystone (Intel syntax), at the
# address the linker script gives the .boot section. The symbols kernel_main and
# boot_stack_top are resolved from the first link pass; the stub is padded to a
# fixed size so the second pass places every other byte where the first did.
#
# The boot loader enters here in 32-bit protected mode, paging off, interrupts off,
# with EAX = 0x2BADB002 and EBX = physical address of the Multiboot info structure.
# The stub touches no FPU or SSE state: kernel_main enables those after CPUID.

multiboot_header:
    .long 0x1BADB002                   # magic
    .long 0x00000003                   # flags: page-align modules, provide memory map
    .long 0xE4524FFB                   # checksum: -(magic + flags) mod 2^32

cllm_entry:
    cli
    cld
    mov esp, boot_stack_top
    xor ebp, ebp                    # terminates the frame-pointer chain for stack traces
    push 0
    popfd                           # clear EFLAGS (AC, NT, IF, DF)
    push ebx                        # Multiboot info address
    push eax                        # Multiboot magic
    mov ecx, kernel_main            # absolute: Keystone mis-resolves rel32 to external symbols
    call ecx
hang:
    cli
    hlt
    jmp hang
