"""The C ABI of libagentring (core/include/agentring/agentring.h) through ctypes.

Finds and loads the library, checks its ABI version, and binds every function the package uses.
Nothing here knows about Python spans; _spans.py builds on it.

Library discovery, first match wins:
  1. $AGENTRING_LIB (a path; when set, nothing else is tried)
  2. <this package>/../../build/lib/libagentring.so (a source checkout built with `make`)
  3. ctypes.util.find_library("agentring") (an installed library)
  4. "libagentring.so" (the dynamic loader's own search: LD_LIBRARY_PATH, ld.so.cache)

Calling convention. The hot functions (span start/end/status/attrs/events/context) are bound
WITHOUT argtypes: ctypes then converts each argument by its Python type, which costs about half
of what per-argument `from_param` converters cost. That is only safe when every argument is one
of: a ctypes array instance (passed as a pointer), a bytes object (a pointer to its buffer),
None (NULL), a small non-negative int for a 32-bit parameter, or a c_size_t instance for a
size_t parameter (a plain int would be passed as a 32-bit C int). The callers in _spans.py keep
to that; the `size()` helper returns cached c_size_t instances.

Attribute arrays are agentring_attr records packed with struct and joined into one bytes
object, whose key and string pointers are the addresses of other bytes objects' buffers:
`id(b) + BYTES_DATA_OFFSET` on CPython, where a bytes object's buffer sits at a fixed offset from
its header and never moves. The offset is measured at import (against ctypes' own pointer to the
buffer), not assumed; an interpreter where it is not constant is refused.
"""

import ctypes
import ctypes.util
import os
import struct

ABI_VERSION = 1  # AGENTRING_ABI_VERSION this binding was written for

# agentring_kind
KIND_CUSTOM = 0
KIND_RUN = 1
KIND_TURN = 2
KIND_LLM = 3
KIND_TOOL = 4
KIND_RETRIEVAL = 5
KIND_EMBEDDING = 6
KIND_VECTOR_SEARCH = 7
KIND_SUBAGENT = 8
KIND_HANDOFF = 9
KIND_GUARDRAIL = 10
KIND_PLAN = 11
KIND_TASK = 12

# agentring_status_code
STATUS_UNSET = 0
STATUS_OK = 1
STATUS_ERROR = 2

# agentring_attr.type
ATTR_INT64 = 1
ATTR_DOUBLE = 2
ATTR_BOOL = 3
ATTR_STRING = 4

# agentring_suffix.type
SUFFIX_NONE = 0
SUFFIX_INT = 1
SUFFIX_INTERNED = 2
SUFFIX_INLINE = 3

SPAN_DETACHED = 1
MAX_ATTRS_PER_GROUP = 32
TRACEPARENT_BUFFER_BYTES = 56

# ---- Layouts (LP64; the offsets are the header's and are asserted in core/src/c_api.cc) ---------

# agentring_span: 16 x uint64, 8-byte aligned; ctypes arrays never move once allocated.
SpanBuffer = ctypes.c_uint64 * 16
# agentring_context: 3 x uint64 then trace_flags, remote, reserved[6] (= one more uint64 word).
ContextBuffer = ctypes.c_uint64 * 4
CONTEXT_STRUCT = struct.Struct("=QQQBB6x")
# agentring_attr: key, key_len, type, bool_value, int_value, double_value, str, str_len (56 bytes).
ATTR_FORMAT = "QQIiqdQQ"
ATTR_BYTES = 56
# agentring_suffix: type, reserved, int_value, str, str_len (32 bytes).
SUFFIX_STRUCT = struct.Struct("=IIqQQ")

assert struct.calcsize("=" + ATTR_FORMAT) == ATTR_BYTES
assert SUFFIX_STRUCT.size == 32 and CONTEXT_STRUCT.size == 32
assert ctypes.sizeof(SpanBuffer) == 128 and ctypes.sizeof(ContextBuffer) == 32


class Stats(ctypes.Structure):
    """agentring_stats (88 bytes, version 1)."""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("spans_started", ctypes.c_uint64),
        ("span_starts_committed", ctypes.c_uint64),
        ("span_starts_dropped_full", ctypes.c_uint64),
        ("span_starts_dropped_too_big", ctypes.c_uint64),
        ("span_starts_dropped_no_lane", ctypes.c_uint64),
        ("span_starts_dropped_no_segment", ctypes.c_uint64),
        ("spans_head_sampled_out", ctypes.c_uint64),
        ("records_committed", ctypes.c_uint64),
        ("records_dropped", ctypes.c_uint64),
        ("strings_dropped", ctypes.c_uint64),
    ]


assert ctypes.sizeof(Stats) == 88

# ---- Loading -------------------------------------------------------------------------------------

_HINT = "build it with `make` (in the agentring checkout) or set AGENTRING_LIB to its path"


def _candidates():
    """The library paths to try, in order, and whether the first one is an explicit override."""
    override = os.environ.get("AGENTRING_LIB")
    if override:
        return [override], True
    here = os.path.dirname(os.path.abspath(__file__))
    paths = [os.path.normpath(os.path.join(here, "..", "..", "build", "lib", "libagentring.so"))]
    found = ctypes.util.find_library("agentring")
    if found:
        paths.append(found)
    paths.append("libagentring.so")
    return paths, False


def _load():
    """Loads libagentring; raises ImportError naming every path tried and what to do."""
    paths, explicit = _candidates()
    errors = []
    for path in paths:
        if "/" in path and not os.path.exists(path):
            errors.append((path, "no such file"))
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            errors.append((path, str(e)))
    if explicit:
        what = "from AGENTRING_LIB=%s (%s)" % errors[0]
    else:
        what = "(tried %s)" % "; ".join("%s: %s" % e for e in errors)
    raise ImportError("agentring: cannot load libagentring.so %s; %s" % (what, _HINT))


if ctypes.sizeof(ctypes.c_void_p) != 8:
    raise ImportError("agentring: the C ABI layouts are LP64; this Python is not 64-bit")

lib, LIBRARY_PATH = _load()

_version = lib.agentring_version
_version.argtypes = []
_version.restype = ctypes.c_uint32
if _version() != ABI_VERSION:
    raise ImportError(
        "agentring: %s has C ABI %d, this package was written for ABI %d; "
        "rebuild the library from the same checkout or install the matching package"
        % (LIBRARY_PATH, _version(), ABI_VERSION)
    )


def _bind(name, argtypes, restype):
    f = getattr(lib, name)
    f.argtypes = argtypes
    f.restype = restype
    return f


# The hot functions are also loaded through PyDLL, which calls them without releasing the GIL:
# they do not block (the header promises no locks or waits after a thread's first span, and the
# library never calls back into Python, so holding the GIL cannot deadlock), and releasing and
# re-taking the GIL around each call would only add its cost (about 0.1-0.2 us a call).
_pylib = ctypes.PyDLL(lib._name)


def _bind_raw(name, restype):
    """A hot function: no argtypes (see the module docstring for what callers may pass), and
    called with the GIL held."""
    f = getattr(_pylib, name)
    f.restype = restype
    return f


_c = ctypes
version_string = _bind("agentring_version_string", [], _c.c_char_p)

# Hot path: bound without argtypes.
span_start_with_attrs = _bind_raw("agentring_span_start_with_attrs", None)
# (span*, name, name_len, kind, suffix*, parent*, flags, attrs*, attr_count)
span_end = _bind_raw("agentring_span_end", None)  # (span*)
span_set_attrs = _bind_raw("agentring_span_set_attrs", None)  # (span*, attrs*, count)
span_add_event = _bind_raw("agentring_span_add_event", None)  # (span*, name, len, attrs*, count)
span_add_link = _bind_raw("agentring_span_add_link", None)  # (span*, ctx*)
span_set_status = _bind_raw("agentring_span_set_status", None)  # (span*, code, msg, len)
span_context = _bind_raw("agentring_span_context", _c.c_int)  # (span*, ctx*)
span_is_recording = _bind_raw("agentring_span_is_recording", _c.c_int)  # (span*)

# Settings and context: argtypes declared (not per span).
context_from_traceparent = _bind(
    "agentring_context_from_traceparent", [_c.c_char_p, _c.c_size_t, _c.c_void_p], _c.c_int
)
set_inherited_parent = _bind("agentring_set_inherited_parent", [_c.c_void_p], None)
clear_inherited_parent = _bind("agentring_clear_inherited_parent", [], None)
set_segment_name = _bind("agentring_set_segment_name", [_c.c_char_p, _c.c_size_t], _c.c_int)
set_enabled = _bind("agentring_set_enabled", [_c.c_int32], None)
is_enabled = _bind("agentring_is_enabled", [], _c.c_int)
set_sampler = _bind("agentring_set_sampler", [_c.c_char_p, _c.c_size_t, _c.c_double], _c.c_int)
flush = _bind("agentring_flush", [], None)
release_thread_lane = _bind("agentring_release_thread_lane", [], None)
get_stats = _bind("agentring_get_stats", [_c.POINTER(Stats)], _c.c_int)
kind_name = _bind("agentring_kind_name", [_c.c_uint32], _c.c_char_p)

# ---- size_t arguments and bytes addresses --------------------------------------------------------

SIZES = _SIZES = tuple(ctypes.c_size_t(i) for i in range(1024))


def size(n, _sizes=_SIZES, _c_size_t=ctypes.c_size_t):
    """A c_size_t for n (cached for n < 1024): what a size_t parameter of a raw function takes."""
    return _sizes[n] if n < 1024 else _c_size_t(n)


def _measure_bytes_data_offset():
    """The distance from id(b) to b's buffer, equal for every bytes object, or None."""
    samples = [b"agentring", b"x" * 100, bytes(bytearray(7))]
    offsets = {ctypes.cast(b, ctypes.c_void_p).value - id(b) for b in samples}
    if len(offsets) != 1:
        return None
    off = offsets.pop()
    return off if 0 < off < 256 else None


BYTES_DATA_OFFSET = _measure_bytes_data_offset()
if BYTES_DATA_OFFSET is None:
    raise ImportError(
        "agentring: this Python implementation does not keep bytes at a fixed offset from id(); "
        "the package supports CPython"
    )
