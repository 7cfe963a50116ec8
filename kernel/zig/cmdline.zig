//! cmdline.zig: splits the kernel command line into `cllm.<key>=<value>` tokens and
//! parses decimal numbers, for kernel/core/cmdline.c (declared in kernel/include/zig.h).
//! Built with `zig build-obj -O ReleaseSafe`: an out-of-bounds index or an overflow
//! here is caught by the safety checks and ends in the kernel panic report through
//! zig_panic, never in silent memory corruption. Tested on the host with `zig test`.
//!
//! Grammar: tokens are separated by spaces (or tabs, CR, LF). A double quote opens a
//! span that runs to the next double quote and may hold spaces. A token is an option
//! if it starts with "cllm."; the key runs to the first '=', the value is the rest,
//! with one pair of surrounding quotes removed. Other tokens are ignored.

const std = @import("std");
const builtin = @import("builtin");

/// One option, as offsets into the line (matches struct cmdline_token in zig.h).
pub const Token = extern struct {
    key_off: u32,
    key_len: u32,
    val_off: u32,
    val_len: u32,
    has_value: u32,
};

const prefix = "cllm.";

pub const SplitError = error{UnterminatedQuote};

fn isSpace(c: u8) bool {
    return c == ' ' or c == '\t' or c == '\n' or c == '\r';
}

/// The token starting at line[start], as its end offset; error on a quote left open.
fn tokenEnd(line: []const u8, start: usize, quote_at: *usize) SplitError!usize {
    var i = start;
    var in_quote = false;
    while (i < line.len) : (i += 1) {
        const c = line[i];
        if (c == '"') {
            if (!in_quote) quote_at.* = i;
            in_quote = !in_quote;
        } else if (isSpace(c) and !in_quote) {
            break;
        }
    }
    if (in_quote) return error.UnterminatedQuote;
    return i;
}

fn makeToken(line: []const u8, start: usize, end: usize) Token {
    const key_off = start + prefix.len;
    var eq = key_off;
    while (eq < end and line[eq] != '=') : (eq += 1) {}
    var tok = Token{
        .key_off = @intCast(key_off),
        .key_len = @intCast(eq - key_off),
        .val_off = @intCast(end),
        .val_len = 0,
        .has_value = 0,
    };
    if (eq < end) {
        var v0 = eq + 1;
        var v1 = end;
        if (v1 - v0 >= 2 and line[v0] == '"' and line[v1 - 1] == '"') {
            v0 += 1;
            v1 -= 1;
        }
        tok.val_off = @intCast(v0);
        tok.val_len = @intCast(v1 - v0);
        tok.has_value = 1;
    }
    return tok;
}

/// Splits `line` into option tokens written to `out`; returns how many were written.
/// Options beyond out.len are counted in `dropped`. On error, `err_at` holds the
/// offset of the quote that was not closed.
pub fn split(line: []const u8, out: []Token, dropped: *usize, err_at: *usize) SplitError!usize {
    var n: usize = 0;
    var i: usize = 0;
    dropped.* = 0;
    while (i < line.len) {
        if (isSpace(line[i])) {
            i += 1;
            continue;
        }
        const end = tokenEnd(line, i, err_at) catch |e| return e;
        if (std.mem.startsWith(u8, line[i..end], prefix)) {
            if (n < out.len) {
                out[n] = makeToken(line, i, end);
                n += 1;
            } else {
                dropped.* += 1;
            }
        }
        i = end;
    }
    return n;
}

/// Decimal digits to a u32: null if empty, any non-digit, or more than 2^32 - 1.
pub fn parseU32(s: []const u8) ?u32 {
    if (s.len == 0) return null;
    var v: u32 = 0;
    for (s) |c| {
        if (c < '0' or c > '9') return null;
        const m = @mulWithOverflow(v, 10);
        if (m[1] != 0) return null;
        const a = @addWithOverflow(m[0], @as(u32, c - '0'));
        if (a[1] != 0) return null;
        v = a[0];
    }
    return v;
}

export fn cmdline_split(line: [*]const u8, len: usize, out: [*]Token, max: usize, dropped: *usize) i32 {
    var err_at: usize = 0;
    // Offsets are stored in u32 and counts returned in i32: refuse larger inputs.
    if (len > std.math.maxInt(i32) or max > std.math.maxInt(i32)) return -1;
    const n = split(line[0..len], out[0..max], dropped, &err_at) catch return -@as(i32, @intCast(err_at)) - 1;
    return @intCast(n);
}

export fn cmdline_parse_u32(s: [*]const u8, len: usize, out: *u32) bool {
    const v = parseU32(s[0..len]) orelse return false;
    out.* = v;
    return true;
}

/// For the fault_zig self-test: an index the caller makes out of bounds on purpose,
/// to show that a safety check in a Zig module ends in the kernel panic report.
export fn zig_checked_index(i: usize) u8 {
    const table = [_]u8{ 2, 3, 5, 7 };
    return table[i];
}

extern fn zig_panic(msg: [*]const u8, len: usize) noreturn;

fn kernelPanic(msg: []const u8, first_trace_addr: ?usize) noreturn {
    _ = first_trace_addr;
    zig_panic(msg.ptr, msg.len);
}

/// Freestanding root panic handler: safety-check failures become a kernel panic.
/// Host tests keep the standard handler so failures print a trace.
pub const panic = if (builtin.is_test) std.debug.FullPanic(std.debug.defaultPanic) else std.debug.FullPanic(kernelPanic);

fn expectSplit(line: []const u8, want: []const [2][]const u8) !void {
    var toks: [8]Token = undefined;
    var dropped: usize = 0;
    var err_at: usize = 0;
    const n = try split(line, &toks, &dropped, &err_at);
    try std.testing.expectEqual(want.len, n);
    for (want, 0..) |w, i| {
        const t = toks[i];
        try std.testing.expectEqualStrings(w[0], line[t.key_off..][0..t.key_len]);
        try std.testing.expectEqualStrings(w[1], line[t.val_off..][0..t.val_len]);
    }
}

test "split plain options and skip other words" {
    try expectSplit("/boot/cllm.elf cllm.n=5  cllm.ip=10.0.2.15 quiet", &.{ .{ "n", "5" }, .{ "ip", "10.0.2.15" } });
}

test "quoted values keep spaces and lose their quotes" {
    try expectSplit("cllm.api_key=\"a b  c\" cllm.x=1", &.{ .{ "api_key", "a b  c" }, .{ "x", "1" } });
}

test "empty line, empty value, missing equals" {
    try expectSplit("", &.{});
    try expectSplit("   ", &.{});
    try expectSplit("cllm.a= cllm.b", &.{ .{ "a", "" }, .{ "b", "" } });
    var toks: [2]Token = undefined;
    var dropped: usize = 0;
    var err_at: usize = 0;
    _ = try split("cllm.b", &toks, &dropped, &err_at);
    try std.testing.expectEqual(@as(u32, 0), toks[0].has_value);
}

test "unterminated quote reports its offset" {
    var toks: [2]Token = undefined;
    var dropped: usize = 0;
    var err_at: usize = 0;
    try std.testing.expectError(error.UnterminatedQuote, split("cllm.a=1 cllm.k=\"abc", &toks, &dropped, &err_at));
    try std.testing.expectEqual(@as(usize, 16), err_at);
}

test "options beyond the output are counted as dropped" {
    var toks: [1]Token = undefined;
    var dropped: usize = 0;
    var err_at: usize = 0;
    const n = try split("cllm.a=1 cllm.b=2 cllm.c=3", &toks, &dropped, &err_at);
    try std.testing.expectEqual(@as(usize, 1), n);
    try std.testing.expectEqual(@as(usize, 2), dropped);
}

test "C entry point returns the negative quote offset" {
    var toks: [2]Token = undefined;
    var dropped: usize = 0;
    const line = "cllm.k=\"x";
    try std.testing.expectEqual(@as(i32, -8), cmdline_split(line.ptr, line.len, &toks, toks.len, &dropped));
}

test "parseU32 bounds" {
    try std.testing.expectEqual(@as(?u32, 0), parseU32("0"));
    try std.testing.expectEqual(@as(?u32, 4294967295), parseU32("4294967295"));
    try std.testing.expectEqual(@as(?u32, null), parseU32("4294967296"));
    try std.testing.expectEqual(@as(?u32, null), parseU32("99999999999999999999"));
    try std.testing.expectEqual(@as(?u32, null), parseU32(""));
    try std.testing.expectEqual(@as(?u32, null), parseU32("12a"));
    try std.testing.expectEqual(@as(?u32, null), parseU32("-1"));
    try std.testing.expectEqual(@as(?u32, null), parseU32("+1"));
}

test "random lines: every token lies inside the line, or the quote offset does" {
    var prng = std.Random.DefaultPrng.init(0x5eed);
    const rand = prng.random();
    const alphabet = " \t\"=.clmax1";
    var buf: [48]u8 = undefined;
    var toks: [4]Token = undefined;
    var round: usize = 0;
    while (round < 5000) : (round += 1) {
        const len = rand.intRangeAtMost(usize, 0, buf.len);
        for (buf[0..len]) |*c| c.* = alphabet[rand.intRangeLessThan(usize, 0, alphabet.len)];
        // Bias towards options: start with the prefix half of the time.
        if (len >= prefix.len and rand.boolean()) @memcpy(buf[0..prefix.len], prefix);
        const line = buf[0..len];
        var dropped: usize = 0;
        var err_at: usize = 0;
        if (split(line, &toks, &dropped, &err_at)) |n| {
            try std.testing.expect(n <= toks.len);
            for (toks[0..n]) |t| {
                try std.testing.expect(t.key_off + t.key_len <= line.len);
                try std.testing.expect(t.val_off + t.val_len <= line.len);
                try std.testing.expect(std.mem.indexOfScalar(u8, line[t.key_off..][0..t.key_len], '=') == null);
            }
        } else |_| {
            try std.testing.expect(err_at < line.len and line[err_at] == '"');
        }
    }
}
