/*
 * Trap entry stubs: the only assembly outside x86.h, because an entry point must
 * capture every register before C code can touch them. Each stub pushes a dummy
 * error code when the CPU does not push one, then the vector number, then saves the
 * general registers with pushal and calls trap_dispatch (kernel/core/trap.c) with a
 * pointer to the resulting struct trap_frame (kernel/include/trap.h). The table
 * trap_entry_table lists the 48 stubs in vector order for traps_init.
 */

/* Vectors where the CPU pushes an error code: 8, 10-14, 17, 21, 29, 30. */
#define TRAP_NOERR(n)                                                                              \
    ".globl trap_entry_" #n "\n"                                                                   \
    "trap_entry_" #n ":\n"                                                                         \
    "    pushl $0\n"                                                                               \
    "    pushl $" #n "\n"                                                                          \
    "    jmp trap_common\n"
#define TRAP_ERR(n)                                                                                \
    ".globl trap_entry_" #n "\n"                                                                   \
    "trap_entry_" #n ":\n"                                                                         \
    "    pushl $" #n "\n"                                                                          \
    "    jmp trap_common\n"

__asm__(
    ".text\n"
    ".p2align 4\n"
    "trap_common:\n"
    "    cld\n"
    "    pushal\n"
    "    movl %esp, %eax\n"
    "    pushl %eax\n"
    "    call trap_dispatch\n"
    "    addl $4, %esp\n"
    "    popal\n"
    "    addl $8, %esp\n" /* vector and error code */
    "    iretl\n" TRAP_NOERR(0) TRAP_NOERR(1) TRAP_NOERR(2) TRAP_NOERR(3) TRAP_NOERR(4) TRAP_NOERR(
        5) TRAP_NOERR(6) TRAP_NOERR(7) TRAP_ERR(8) TRAP_NOERR(9) TRAP_ERR(10) TRAP_ERR(11)
        TRAP_ERR(12) TRAP_ERR(13) TRAP_ERR(14) TRAP_NOERR(15) TRAP_NOERR(16) TRAP_ERR(
            17) TRAP_NOERR(18) TRAP_NOERR(19) TRAP_NOERR(20) TRAP_ERR(21) TRAP_NOERR(22)
            TRAP_NOERR(23) TRAP_NOERR(24) TRAP_NOERR(25) TRAP_NOERR(26) TRAP_NOERR(27) TRAP_NOERR(
                28) TRAP_ERR(29) TRAP_ERR(30) TRAP_NOERR(31) TRAP_NOERR(32) TRAP_NOERR(33)
                TRAP_NOERR(34) TRAP_NOERR(35) TRAP_NOERR(36) TRAP_NOERR(37) TRAP_NOERR(
                    38) TRAP_NOERR(39) TRAP_NOERR(40) TRAP_NOERR(41) TRAP_NOERR(42) TRAP_NOERR(43)
                    TRAP_NOERR(44) TRAP_NOERR(45) TRAP_NOERR(46) TRAP_NOERR(
                        47) ".section .rodata\n"
                            ".p2align 2\n"
                            ".globl trap_entry_table\n"
                            "trap_entry_table:\n"
                            "    .long trap_entry_0, trap_entry_1, trap_entry_2, trap_entry_3\n"
                            "    .long trap_entry_4, trap_entry_5, trap_entry_6, trap_entry_7\n"
                            "    .long trap_entry_8, trap_entry_9, trap_entry_10, trap_entry_11\n"
                            "    .long trap_entry_12, trap_entry_13, trap_entry_14, trap_entry_15\n"
                            "    .long trap_entry_16, trap_entry_17, trap_entry_18, trap_entry_19\n"
                            "    .long trap_entry_20, trap_entry_21, trap_entry_22, trap_entry_23\n"
                            "    .long trap_entry_24, trap_entry_25, trap_entry_26, trap_entry_27\n"
                            "    .long trap_entry_28, trap_entry_29, trap_entry_30, trap_entry_31\n"
                            "    .long trap_entry_32, trap_entry_33, trap_entry_34, trap_entry_35\n"
                            "    .long trap_entry_36, trap_entry_37, trap_entry_38, trap_entry_39\n"
                            "    .long trap_entry_40, trap_entry_41, trap_entry_42, trap_entry_43\n"
                            "    .long trap_entry_44, trap_entry_45, trap_entry_46, trap_entry_47\n"
                            ".text\n");
