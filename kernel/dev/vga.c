/*
 * VGA text console: 80x25 cells at 0xB8000, light grey on black, scrolling. It mirrors
 * the serial log (kernel/core/printk.c) so a machine booted from GRUB on real
 * hardware shows its progress on screen. Relies on the identity map covering 0xB8000.
 */
#include "dev/vga.h"
#include "kernel.h"
#include "memlayout.h"
#include "x86.h"

#define VGA_COLS 80
#define VGA_ROWS 25
#define VGA_ATTR 0x07 /* light grey on black */
#define VGA_CRTC_INDEX 0x3D4
#define VGA_CRTC_DATA 0x3D5

static volatile uint16_t *const vga_cells = (volatile uint16_t *)VGA_TEXT_BASE; /* (rows, cols) */
static unsigned vga_row, vga_col;
static bool vga_ready;

static void vga_clear_row(unsigned row) {
    for (unsigned c = 0; c < VGA_COLS; c++)
        vga_cells[row * VGA_COLS + c] = (uint16_t)(VGA_ATTR << 8 | ' ');
}

static void vga_move_cursor(void) {
    uint16_t pos = (uint16_t)(vga_row * VGA_COLS + vga_col);
    outb(VGA_CRTC_INDEX, 0x0F);
    outb(VGA_CRTC_DATA, (uint8_t)pos);
    outb(VGA_CRTC_INDEX, 0x0E);
    outb(VGA_CRTC_DATA, (uint8_t)(pos >> 8));
}

void vga_init(void) {
    for (unsigned r = 0; r < VGA_ROWS; r++)
        vga_clear_row(r);
    vga_row = vga_col = 0;
    vga_ready = true;
    vga_move_cursor();
}

static void vga_newline(void) {
    vga_col = 0;
    if (++vga_row < VGA_ROWS)
        return;
    for (unsigned i = 0; i < (VGA_ROWS - 1) * VGA_COLS; i++)
        vga_cells[i] = vga_cells[i + VGA_COLS];
    vga_row = VGA_ROWS - 1;
    vga_clear_row(vga_row);
}

void vga_write(const char *s, size_t n) {
    if (!vga_ready)
        return;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\n') {
            vga_newline();
        } else if (c == '\r') {
            vga_col = 0;
        } else {
            uint8_t ch = (uint8_t)c < 0x20 || (uint8_t)c > 0x7E ? '?' : (uint8_t)c;
            vga_cells[vga_row * VGA_COLS + vga_col] = (uint16_t)(VGA_ATTR << 8 | ch);
            if (++vga_col == VGA_COLS)
                vga_newline();
        }
    }
    vga_move_cursor();
}

size_t vga_read_row(unsigned back, char *out, size_t n) {
    if (n == 0)
        return 0;
    out[0] = '\0';
    if (!vga_ready || back > vga_row)
        return 0;
    unsigned row = vga_row - back;
    size_t len = 0;
    for (unsigned c = 0; c < VGA_COLS && len + 1 < n; c++)
        out[len++] = (char)(vga_cells[row * VGA_COLS + c] & 0xFF);
    while (len && out[len - 1] == ' ')
        len--;
    out[len] = '\0';
    return len;
}
