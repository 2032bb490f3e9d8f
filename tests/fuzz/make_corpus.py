#!/usr/bin/env python3
"""Writes the seed corpus of the segment fuzz target into tests/fuzz/corpus/ (see the input
format at the top of segment_fuzz.cc). Seeds cover a valid group of each record type, long
strings with continuation records, wrapped lanes, dead writers, and the corruptions the reader
must reject. Re-run after changing the format: python3 tests/fuzz/make_corpus.py"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
T_START, T_END, T_ATTR, T_EVENT, T_STATUS, T_CONT, T_LINK = 1, 2, 3, 4, 5, 6, 7
V_INT, V_DOUBLE, V_BOOL, V_STR = 1, 2, 3, 4
LANE_TABLE = 0          # offsets inside the POKE region (lane table, process table, strings)
PROC_TABLE = 4 * 256
TRACE = (0x1111, 0x2222)


def start(span, rem=0, name=0, parent=0, ts=1000, suffix=0, stype=0, slen=0, kind=1):
    return struct.pack("<BBHIQQQQQQBBBBI", T_START, 1, rem, name, ts, TRACE[0], TRACE[1], span,
                       parent, suffix, kind, stype, slen, 0, 0)


def end(span, ts=2000, status=0):
    return struct.pack("<BBHIQQQQB7sQQ", T_END, 0, 0, 0, ts, TRACE[0], TRACE[1], span, status,
                       b"", 0, 0)


def attr(span, rem, key, vt, num=0, text=b"", flags=0, str_len=None):
    if str_len is None:
        str_len = len(text)
    return struct.pack("<BBHIQQBBHI32s", T_ATTR, flags, rem, key, span, num, vt, 0, 0, str_len,
                       text[:32])


def conts(text, rem_after):
    """Cont records for text[32:], group_remaining counting down to rem_after."""
    rest = text[32:]
    chunks = [rest[i:i + 56] for i in range(0, len(rest), 56)]
    out = b""
    for i, c in enumerate(chunks):
        out += struct.pack("<BBHI56s", T_CONT, 0, rem_after + len(chunks) - 1 - i, len(c), c)
    return out


def event(span, rem, name, ts=1500):
    return struct.pack("<BBHIQQ40s", T_EVENT, 0, rem, name, span, ts, b"")


def status(span, code, msg, rem=None):
    n = 0 if len(msg) <= 32 else (len(msg) - 32 + 55) // 56
    if rem is None:
        rem = n
    return struct.pack("<BBHIQQBBHI32s", T_STATUS, 0, rem, 0, span, 0, code, 0, 0, len(msg),
                       msg[:32]) + conts(msg, 0)


def link(span, lspan):
    return struct.pack("<BBHIQQQQ24s", T_LINK, 0, 0, 0, span, 7, 8, lspan, b"")


def records(lane, recs):
    assert len(recs) % 64 == 0
    return bytes([0, lane, len(recs) // 64]) + recs


def string(proc, s, declared=None):
    n = len(s) if declared is None else declared
    return bytes([1, proc]) + struct.pack("<H", n) + s


def poke(off, data):
    return bytes([2]) + struct.pack("<H", off) + bytes([len(data)]) + data


def pas(probe=0):
    return bytes([3, probe])


def position(lane, head, value):
    return bytes([4, lane, 0 if head else 1]) + struct.pack("<Q", value)


def lock(proc):
    return bytes([5, proc])


def header(off, data):
    return bytes([6, off, len(data)]) + data


def state(lane, proc, mode):
    return bytes([7, lane, proc, mode])


class Strings:
    """Tracks the ids the STRING op assigns (byte offsets, first at 8)."""

    def __init__(self):
        self.next = {0: 8, 1: 8}

    def add(self, proc, s):
        sid = self.next[proc]
        self.next[proc] += 4 + ((len(s) + 3) & ~3)
        return sid, string(proc, s)


def seeds():
    out = {}
    st = Strings()
    name, op_name = st.add(0, b"agent.step")
    key, op_key = st.add(0, b"gen_ai.usage.input_tokens")
    base = op_name + op_key

    out["span_start_end"] = base + records(0, start(1, name=name) + end(1)) + pas()
    out["start_with_attrs"] = base + records(0, start(2, 4, name=name) +
                                             attr(2, 3, key, V_INT, 42) +
                                             attr(2, 2, key, V_DOUBLE, 0x400921FB54442D18) +
                                             attr(2, 1, key, V_BOOL, 1) +
                                             attr(2, 0, key, V_STR, text=b"short")) + pas()
    long_text = bytes(range(65, 91)) * 6  # 156 bytes: 3 Cont records
    out["attr_long_string"] = base + records(
        1, attr(3, 3, key, V_STR, text=long_text) + conts(long_text, 0)) + pas()
    out["event_with_attrs"] = base + records(0, event(4, 2, name) +
                                             attr(4, 1, key, V_INT, 7, flags=1) +
                                             attr(4, 0, key, V_STR, text=b"ev", flags=1)) + pas()
    msg = b"the tool call failed: " + b"x" * 120
    out["status_long_message"] = base + records(0, status(5, 2, msg)) + pas()
    out["link"] = base + records(0, link(6, 99)) + pas()
    sfx, op_sfx = st.add(0, b"retriever")
    out["suffixes"] = base + op_sfx + records(0, start(7, name=name, suffix=sfx, stype=2) +
                                              start(8, name=name, suffix=0x6f6c6c6568, stype=3,
                                                    slen=5) +
                                              start(9, name=name, suffix=12, stype=1)) + pas()
    # Wrapped lane: 60 records, a pass, then 12 more (positions 60..71 wrap at 64).
    first = b"".join(start(100 + i, name=name) + end(100 + i) for i in range(30))
    second = b"".join(start(200 + i, name=name) + end(200 + i) for i in range(6))
    out["wrapped_lane"] = base + records(0, first) + pas() + records(0, second) + pas()
    out["wrapped_long_string"] = (base + records(0, first) + pas() +
                                  records(0, attr(3, 3, key, V_STR, text=long_text) +
                                          conts(long_text, 0)) + pas())
    # Corrupted lengths and shapes.
    out["str_len_too_long"] = base + records(0, attr(3, 1, key, V_STR, text=long_text,
                                                    str_len=5000) + conts(long_text, 0)[:64]) + pas()
    bad_cont = bytearray(conts(long_text, 0))
    bad_cont[4] = 57  # a Cont claiming more than its payload
    out["cont_bad_len"] = base + records(0, attr(3, 3, key, V_STR, text=long_text) +
                                         bytes(bad_cont)) + pas()
    out["group_remaining_wrong"] = base + records(0, start(10, 2, name=name) +
                                                  attr(10, 0, key, V_INT, 1)) + pas()
    out["group_past_head"] = base + records(0, start(11, 5, name=name)) + pas()
    out["group_too_large"] = base + records(0, start(12, 4000, name=name)) + pas()
    out["zero_and_unknown_types"] = base + records(0, b"\0" * 64 + b"\x09" + b"\0" * 63 +
                                                   conts(long_text, 0)[:64]) + pas()
    out["zero_ids"] = base + records(0, start(0, name=name) + end(0) + link(0, 0)) + pas()
    out["bad_values"] = base + records(0, attr(13, 0, key, 9) + end(13, status=7) +
                                       start(14, name=name, stype=9)) + pas()
    out["event_attr_in_span"] = base + records(0, start(15, 1, name=name) +
                                               attr(15, 0, key, V_INT, 1, flags=1)) + pas()
    out["status_bad_conts"] = base + records(0, status(16, 2, msg, rem=0)) + pas()
    # Heads and tails a writer cannot produce.
    out["head_past_capacity"] = base + records(0, start(17, name=name)) + position(0, True, 500) + pas()
    out["head_behind_tail"] = base + position(1, False, 40) + position(1, True, 10) + pas()
    out["head_huge"] = base + position(0, True, 0xFFFFFFFFFFFFFFF0) + pas() + records(
        0, start(18, name=name) + end(18)) + pas()
    out["records_overrun_lane"] = base + bytes([0, 0, 200]) + (start(19, name=name) + end(19)) * 100 + pas()
    # Lane-table entries that name no live owner.
    out["lane_names_free_process"] = base + state(2, 1, 0) + records(2, start(20, name=name)) + pas()
    out["lane_bad_slot"] = (base + records(0, start(21, name=name)) +
                            poke(LANE_TABLE + 4, struct.pack("<I", 77)) + pas())
    out["lane_bad_generation"] = (base + records(0, start(22, name=name)) +
                                  poke(LANE_TABLE + 8, struct.pack("<I", 5)) + pas())
    out["lane_claiming_dead"] = base + poke(2 * 256, struct.pack("<I", 1 | (2 << 8))) + pas(1)
    out["lane_claiming_garbage"] = base + poke(3 * 256, struct.pack("<I", 1 | (900 << 8))) + pas(1)
    out["lane_state_garbage"] = base + poke(0, struct.pack("<I", 0xdeadbeef)) + pas()
    # Writers that die, release, re-attach.
    out["writer_dies_open_span"] = (base + records(0, start(30, name=name)) + pas() + lock(0) +
                                    pas(1) + pas())
    out["lane_released"] = base + records(1, start(31, name=name) + end(31)) + state(1, 0, 1) + pas()
    st1 = Strings()
    n1, op_n1 = st1.add(1, b"second.process")
    out["second_process"] = (base + state(2, 1, 2) + op_n1 + state(2, 1, 0) +
                             records(2, start(32, name=n1) + end(32)) + pas() + lock(1) + pas(1))
    out["reattach_new_generation"] = (base + records(0, start(33, name=name)) + state(0, 0, 2) +
                                      pas(1) + records(0, end(33)) + pas())
    out["process_freed_under_lane"] = base + records(0, start(34, name=name)) + state(0, 0, 3) + pas(1)
    out["process_claiming_dead"] = base + poke(PROC_TABLE + 128, struct.pack("<I", 1)) + pas(1)
    # String tables.
    res_text = b"service.name=fuzz%2Dsvc\n team = core \nbad\n=x\nservice.name=again\n"
    res, op_res = st.add(0, res_text)
    out["resource_attributes"] = (base + op_res + poke(PROC_TABLE + 12, struct.pack("<I", res)) +
                                  records(0, start(40, name=name)) + pas())
    out["string_entry_too_long"] = string(0, b"abc", declared=5000) + records(0, start(41, name=8)) + pas(1) + lock(0) + pas(1)
    out["strings_used_past_block"] = (base + poke(PROC_TABLE + 24, struct.pack("<Q", 1 << 40)) +
                                      records(0, start(42, name=name)) + pas())
    out["unresolved_string_id"] = base + records(0, start(43, name=999) + end(43)) + pas() + lock(0) + pas(1) + pas()
    out["string_arrives_late"] = (records(0, start(44, name=8) + end(44)) + pas() +
                                  string(0, b"late.name") + pas())
    out["misaligned_string_id"] = base + records(0, start(45, name=name + 2) + attr(45, 0, 6, V_INT) ) + lock(0) + pas(1)
    # Header fields (the reader opens the segment at the first pass).
    out["header_bad_magic"] = header(0, b"XXXXXXXX") + base + records(0, start(50, name=name)) + pas()
    out["header_bad_geometry"] = header(28, struct.pack("<I", 8)) + base + pas()
    out["header_bad_abi"] = header(8, struct.pack("<H", 9)) + pas()
    out["header_bad_clock"] = header(88, struct.pack("<I", 7)) + pas()
    # A slow TSC rate and extreme timestamps: tick-to-ns conversion must not overflow.
    out["header_slow_tsc"] = (header(88, struct.pack("<I", 1)) + header(112, struct.pack("<Q", 1)) +
                              base + records(0, start(51, name=name, ts=0xFFFFFFFFFFFFFFFF) +
                                             end(51, ts=1)) + pas() + lock(0) + pas(1))
    out["header_monotonic_extreme_ts"] = (header(88, struct.pack("<I", 2)) + base +
                                          records(0, start(52, name=name, ts=1 << 63) + end(52, ts=0)) +
                                          pas() + lock(0) + pas(1))
    out["many_passes"] = base + records(0, start(60, name=name)) + pas() * 20
    out["empty"] = b""
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in seeds().items():
        with open(os.path.join(OUT, "seed_" + name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds())} seeds to {OUT}")


if __name__ == "__main__":
    main()
