"""Spans for Python over the C ABI: Span, SpanContext, the current span, traced() and wrap().

Parents. The current span lives in a contextvars.ContextVar, never in the C library's per-thread
state: every span is started AGENTRING_SPAN_DETACHED with an explicit parent, so that asyncio
tasks interleaved on one thread, and threads handed a copied context, each nest under their own
span. With no Python span current the parent argument is NULL, which the C side reads as "the
thread's current C/C++ span, else the inherited parent (TRACEPARENT), else a new trace": a Python
agent called from an instrumented C++ host nests under the host's span, and a sub-agent process
nests under the span that spawned it.

A span's context (trace id, span id) is copied out when it starts, so children, wrap()ed threads
and tasks that outlive it can still name it as their parent after it has ended.

Costs (per span, on top of what Python's `with` costs): one Python object, two ctypes arrays,
one bytes.join of the attributes' packed records, a contextvar set and reset, and three foreign
calls (start with attributes, context, end). Names, keys, suffixes and repeated string values
are encoded and packed once and cached (bench/python_bench.py measures the whole).

Thread safety: a Span may be ended on any thread (it is detached), but must not be used by two
threads at once. The caches are dicts guarded by the GIL.
"""

import contextvars
import enum
import functools
import inspect
import os
import struct
import traceback

from . import _ffi


class Kind(enum.IntEnum):
    """The stable role of a span, exported as the `agent.kind` attribute (agentring_kind)."""

    CUSTOM = _ffi.KIND_CUSTOM
    RUN = _ffi.KIND_RUN
    TURN = _ffi.KIND_TURN
    LLM = _ffi.KIND_LLM
    TOOL = _ffi.KIND_TOOL
    RETRIEVAL = _ffi.KIND_RETRIEVAL
    EMBEDDING = _ffi.KIND_EMBEDDING
    VECTOR_SEARCH = _ffi.KIND_VECTOR_SEARCH
    SUBAGENT = _ffi.KIND_SUBAGENT
    HANDOFF = _ffi.KIND_HANDOFF
    GUARDRAIL = _ffi.KIND_GUARDRAIL
    PLAN = _ffi.KIND_PLAN
    TASK = _ffi.KIND_TASK


class StatusCode(enum.IntEnum):
    """OpenTelemetry's span status (agentring_status_code)."""

    UNSET = _ffi.STATUS_UNSET
    OK = _ffi.STATUS_OK
    ERROR = _ffi.STATUS_ERROR


_STATUS_NAMES = {"unset": StatusCode.UNSET, "ok": StatusCode.OK, "error": StatusCode.ERROR}

_current = contextvars.ContextVar("agentring.current_span", default=None)

# ---- Encoding caches -----------------------------------------------------------------------------
#
# Names, keys and suffixes repeat: each is encoded (and packed) once and kept. A program that
# makes names up per call (it should use a suffix or an attribute instead) stops being cached at
# _MAX_CACHED entries; later ones are encoded per call.

_MAX_CACHED = 4096
_OFF = _ffi.BYTES_DATA_OFFSET
_size = _ffi.size
_names = {}  # name -> (bytes, c_size_t length)
_keys = {}  # key -> its entry (see _key_entry)
_suffixes = {}  # str or small int suffix -> (packed agentring_suffix, bytes it points to)
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_SUFFIX = _ffi.SUFFIX_STRUCT
_SIZE0 = _size(0)
_SIZES = _ffi.SIZES  # c_size_t(0..1023), for attribute counts
# False after set_enabled(False) (or with AGENTRING_DISABLED=1): spans then skip building their
# attributes, which the library would drop. Only a hint: the library decides what is recorded.
_recording_hint = os.environ.get("AGENTRING_DISABLED") != "1"
_names_get = _names.get
_keys_get = _keys.get
_suffixes_get = _suffixes.get


def _encode(text):
    """UTF-8 bytes of a str; lone surrogates become U+FFFD instead of raising."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def _name_entry(name):
    if type(name) is not str:
        name = str(name)
    b = _encode(name)
    entry = (b, _size(len(b)))
    if len(_names) < _MAX_CACHED:
        _names[name] = entry
    return entry


# An agentring_attr is 56 bytes: key (8), key_len (8), type (4), bool_value (4), int_value (8),
# double_value (8), str (8), str_len (8). Per key, everything but the value is constant, so each
# key's entry holds the bytes of each type's constant head (and whole attributes for True and
# False); an attribute is one struct.pack of a head and its value, the zeros after it included.
_PACK_STR = struct.Struct("=40sQQ").pack  # head, str, str_len
_PACK_INT = struct.Struct("=24sq24x").pack  # head, int_value
_PACK_DOUBLE = struct.Struct("=32sd16x").pack  # head, double_value
_MAX_VALUES_PER_KEY = 256


def _key_entry(key):
    """(string head, int head, double head, True attribute, False attribute, {str value: whole
    attribute}, [value bytes the cached attributes point to], key bytes)."""
    b = _encode(key if type(key) is str else str(key))
    k = struct.pack("=QQ", id(b) + _OFF, len(b))
    entry = (
        k + struct.pack("=Iiqd", _ffi.ATTR_STRING, 0, 0, 0.0),
        k + struct.pack("=Ii", _ffi.ATTR_INT64, 0),
        k + struct.pack("=Iiq", _ffi.ATTR_DOUBLE, 0, 0),
        k + struct.pack("=IiqdQQ", _ffi.ATTR_BOOL, 1, 0, 0.0, 0, 0),
        k + struct.pack("=IiqdQQ", _ffi.ATTR_BOOL, 0, 0, 0.0, 0, 0),
        {},
        [],
        b,
    )
    if len(_keys) < _MAX_CACHED:
        _keys[key] = entry
    return entry


def _str_attr(ke, v, keep):
    """The packed attribute for key entry `ke` and str value v: cached per key for the first
    _MAX_VALUES_PER_KEY distinct values (tool names, models, providers repeat; paths and queries
    fill the cache and are then packed per call)."""
    try:
        b = v.encode()
    except UnicodeEncodeError:
        b = v.encode("utf-8", "replace")
    packed = _PACK_STR(ke[0], id(b) + _OFF, len(b))
    values = ke[5]
    if len(values) < _MAX_VALUES_PER_KEY and len(b) <= 256:
        values[v] = packed
        ke[6].append(b)
    else:
        keep.append(b)
    return packed


def _suffix_entry(suffix):
    """(packed agentring_suffix or None, object to keep alive) for an int or str suffix."""
    if suffix is None:
        return (None, None)
    if type(suffix) is int and _INT64_MIN <= suffix <= _INT64_MAX:
        entry = (_SUFFIX.pack(_ffi.SUFFIX_INT, 0, suffix, 0, 0), None)
        if 0 <= suffix < 1024:  # turn numbers and the like (no key collides with a str)
            _suffixes[suffix] = entry
        return entry
    text = suffix if type(suffix) is str else str(suffix)
    if not text:
        return (None, None)  # no dangling "chat " for an empty model name
    b = _encode(text)
    entry = (_SUFFIX.pack(_ffi.SUFFIX_INTERNED, 0, 0, id(b) + _OFF, len(b)), b)
    if type(suffix) is str and len(_suffixes) < _MAX_CACHED:
        _suffixes[suffix] = entry
    return entry


def _pack_other(ke, v, app, keep):
    """Packs a value that is not exactly a str, bool, float or int64 (None: skipped)."""
    if v is None:
        return
    if isinstance(v, bool):
        app(ke[3] if v else ke[4])
        return
    if isinstance(v, int) and _INT64_MIN <= v <= _INT64_MAX:
        app(_PACK_INT(ke[1], int(v)))
        return
    if isinstance(v, float):
        app(_PACK_DOUBLE(ke[2], float(v)))
        return
    if isinstance(v, (bytes, bytearray)):
        b = bytes(v).decode("utf-8", "replace").encode()
    else:
        b = _encode(str(v))
    keep.append(b)
    app(_PACK_STR(ke[0], id(b) + _OFF, len(b)))


def _pack(attrs):
    """An agentring_attr array for a mapping: (bytes, c_size_t count, objects to keep alive).

    bool is tested before int (bool is an int subclass); ints outside int64 and other types are
    recorded as their str(); None values are skipped. The returned `keep` list holds the bytes
    the array points into: the caller keeps it until the C call returns."""
    parts = []
    app = parts.append
    keep = []
    keys = _keys
    for k, v in attrs.items():
        ke = keys.get(k)
        if ke is None:
            ke = _key_entry(k)
            keep.append(ke)
        t = type(v)
        if t is str:
            packed = ke[5].get(v)
            app(packed if packed is not None else _str_attr(ke, v, keep))
        elif t is bool:
            app(ke[3] if v else ke[4])
        elif t is int:
            try:
                app(_PACK_INT(ke[1], v))
            except struct.error:  # beyond int64: recorded as its decimal string
                _pack_other(ke, str(v), app, keep)
        elif t is float:
            app(_PACK_DOUBLE(ke[2], v))
        else:
            _pack_other(ke, v, app, keep)
    return b"".join(parts), _size(len(parts)), keep


# ---- Contexts ------------------------------------------------------------------------------------


class SpanContext:
    """A span's W3C trace context (agentring_context): trace id, span id, flags.

    Pass it as `parent=` to nest a span under a span of another thread or process, or format it
    as a traceparent. Immutable once made."""

    __slots__ = ("_buf",)

    def __init__(self, _buffer=None):
        self._buf = _buffer if _buffer is not None else _ffi.ContextBuffer()

    @classmethod
    def from_traceparent(cls, text):
        """Parses a W3C traceparent ("00-<32 hex>-<16 hex>-<2 hex>"); None if it is malformed."""
        if isinstance(text, str):
            text = text.strip().encode("ascii", "replace")
        buf = _ffi.ContextBuffer()
        if not _ffi.context_from_traceparent(text, len(text), buf):
            return None
        return cls(buf)

    def _fields(self):
        return _ffi.CONTEXT_STRUCT.unpack(bytes(self._buf))

    @property
    def trace_id(self):
        """The trace id as 32 lower-case hex digits."""
        hi, lo, _, _, _ = self._fields()
        return "%016x%016x" % (hi, lo)

    @property
    def span_id(self):
        """The span id as 16 lower-case hex digits."""
        return "%016x" % self._fields()[2]

    @property
    def sampled(self):
        return bool(self._fields()[3] & 1)

    @property
    def remote(self):
        """True for a context that came from a traceparent (another process)."""
        return bool(self._fields()[4])

    @property
    def is_valid(self):
        hi, lo, sid, _, _ = self._fields()
        return sid != 0 and (hi | lo) != 0

    __bool__ = is_valid.fget

    @property
    def traceparent(self):
        """"00-<trace id>-<span id>-<flags>", or None for an invalid context."""
        hi, lo, sid, flags, _ = self._fields()
        if sid == 0 or (hi | lo) == 0:
            return None
        return "00-%016x%016x-%016x-%02x" % (hi, lo, sid, flags)

    def __eq__(self, other):
        return isinstance(other, SpanContext) and bytes(self._buf)[:25] == bytes(other._buf)[:25]

    def __hash__(self):
        return hash(bytes(self._buf)[:25])

    def __repr__(self):
        return "SpanContext(%s)" % (self.traceparent or "invalid")


# A zero-filled context as `parent=`: a new trace (or, in a process started with TRACEPARENT, a
# child of that parent), whatever span is current.
ROOT = SpanContext()


def _parent_buffer(parent):
    """The agentring_context buffer for a `parent=` argument (Span, SpanContext or traceparent)."""
    if isinstance(parent, Span):
        if parent._ctx is None:
            raise ValueError("agentring: parent span %r has not started" % parent.name)
        return parent._ctx
    if isinstance(parent, SpanContext):
        return parent._buf
    if isinstance(parent, (str, bytes)):
        ctx = SpanContext.from_traceparent(parent)
        return ctx._buf if ctx is not None else ROOT._buf
    raise TypeError("agentring: parent must be a Span, SpanContext or traceparent string, not %s"
                    % type(parent).__name__)


# ---- Spans ---------------------------------------------------------------------------------------

_SpanBuffer = _ffi.SpanBuffer
_ContextBuffer = _ffi.ContextBuffer
# What a span holds while tracing is off: zero-filled storage, which the C ABI defines as an
# ended span (every call on it does nothing), and an invalid context. Shared: never written.
_OFF_SPAN = _SpanBuffer()
_OFF_CONTEXT = _ContextBuffer()
_start_raw = _ffi.span_start_with_attrs
_end_raw = _ffi.span_end
_context_raw = _ffi.span_context
_cur_get = _current.get
_cur_set = _current.set
_cur_reset = _current.reset
_MISSING = contextvars.Token.MISSING
_DETACHED = _ffi.SPAN_DETACHED


class Span:
    """One span: `with Span("name", Kind.TOOL, {"k": v}) as s:` (also spelled agentring.span).

    name        the static part of the name (interned once per process)
    kind        a Kind (exported as agent.kind)
    attributes  a mapping of str keys to str, int, bool or float values (others: str(value);
                None: skipped), written with the start in one record group
    suffix      the variable part of the name: an int ("agent.turn" + 3 reads "agent.turn 3") or a
                str interned once ("chat" + "gpt-4o" reads "chat gpt-4o")
    parent      a Span, SpanContext or traceparent string; default: the current span (contextvar)

    Entering starts the span and makes it current in this context; leaving records an escaping
    exception (status ERROR, error.type, an "exception" event), ends it, and restores the
    previous current span. start()/end() do the same without touching the current span.
    """

    __slots__ = ("name", "kind", "_attrs", "_suffix", "_parent", "_buf", "_ctx", "_token")

    def __init__(self, name, kind=Kind.CUSTOM, attributes=None, suffix=None, parent=None):
        self.name = name
        self.kind = kind
        self._attrs = attributes
        self._suffix = suffix
        self._parent = parent
        self._buf = None
        self._ctx = None
        self._token = None

    def start(self):
        """Starts the span without making it current (see __enter__). Returns self. Raises
        RuntimeError if it was started before."""
        self.__enter__()
        if self._token is not None:
            _cur_reset(self._token)
            self._token = None
        return self

    def end(self):
        """Ends the span (its status is the last one set). Ending twice does nothing."""
        if self._buf is not None:
            _end_raw(self._buf)

    def __enter__(self):
        # The whole per-span cost is here and in __exit__, so this is one straight line with
        # _pack's common case inlined (str values already seen for their key, bools, int64s,
        # floats); anything else goes through _pack.
        if self._buf is not None:
            raise RuntimeError("agentring: span %r was already started" % (self.name,))
        if not _recording_hint:
            # Tracing is off: no foreign call, no buffers, no contextvar change. (set_enabled
            # turns the library off too; this only saves the work it would have discarded.)
            self._buf = _OFF_SPAN
            self._ctx = _OFF_CONTEXT
            return self
        parent = self._parent
        if parent is None:
            cur = _cur_get()
            pctx = None if cur is None else cur._ctx
        else:
            pctx = _parent_buffer(parent)
        ne = _names_get(self.name) or _name_entry(self.name)
        suffix = self._suffix
        sfx = None if suffix is None else (_suffixes_get(suffix) or _suffix_entry(suffix))[0]
        self._buf = buf = _SpanBuffer()
        self._ctx = ctx = _ContextBuffer()
        attrs = self._attrs
        if attrs and _recording_hint:
            parts = []
            app = parts.append
            for k, v in attrs.items():
                ke = _keys_get(k)
                if ke is None:
                    break
                t = type(v)
                if t is str:
                    p = ke[5].get(v)
                    if p is None:
                        break
                    app(p)
                elif t is bool:
                    app(ke[3] if v else ke[4])
                elif t is int:
                    try:
                        app(_PACK_INT(ke[1], v))
                    except struct.error:  # beyond int64
                        break
                elif t is float:
                    app(_PACK_DOUBLE(ke[2], v))
                else:
                    break
            else:
                n = len(parts)
                _start_raw(buf, ne[0], ne[1], self.kind, sfx, pctx, _DETACHED, b"".join(parts),
                           _SIZES[n] if n < 1024 else _size(n))
                _context_raw(buf, ctx)
                self._token = _cur_set(self)
                return self
            packed, count, keep = _pack(attrs)
            _start_raw(buf, ne[0], ne[1], self.kind, sfx, pctx, _DETACHED, packed, count)
        else:
            _start_raw(buf, ne[0], ne[1], self.kind, sfx, pctx, _DETACHED, None, _SIZE0)
        _context_raw(buf, ctx)
        self._token = _cur_set(self)
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._buf is _OFF_SPAN:
            return False
        if exc_type is not None and exc_type is not GeneratorExit:
            self.record_exception(exc, escaped=True)
        _end_raw(self._buf)
        token = self._token
        if token is not None:
            self._token = None
            try:
                _cur_reset(token)
            except (ValueError, RuntimeError):
                # Left in another Context than the one it entered (a generator resumed
                # elsewhere): restore what this span replaced there instead.
                old = token.old_value
                _cur_set(None if old is _MISSING else old)
        return False

    # ---- while running ----------------------------------------------------------------------

    def set(self, key, value):
        """Sets one attribute (the last value of a key wins). Returns self."""
        return self.set_attributes({key: value})

    def set_attributes(self, attributes):
        """Sets several attributes in one record group. Returns self."""
        if self._buf is not None and attributes:
            packed, count, keep = _pack(attributes)
            _ffi.span_set_attrs(self._buf, packed, count)
        return self

    def add_event(self, name, attributes=None):
        """Adds a timestamped event with optional attributes. Returns self."""
        if self._buf is None:
            return self
        ne = _names.get(name) if type(name) is str else None
        if ne is None:
            ne = _name_entry(name)
        if attributes:
            packed, count, keep = _pack(attributes)
            _ffi.span_add_event(self._buf, ne[0], ne[1], packed, count)
        else:
            _ffi.span_add_event(self._buf, ne[0], ne[1], None, _SIZE0)
        return self

    def add_link(self, context):
        """Links this span to another span (a Span, SpanContext or traceparent). Returns self."""
        if self._buf is not None and context is not None:
            _ffi.span_add_link(self._buf, _parent_buffer(context))
        return self

    def set_status(self, code, message=None):
        """Sets the status: StatusCode (or "ok", "error", "unset") and an optional message."""
        if isinstance(code, str):
            code = _STATUS_NAMES[code.lower()]
        if self._buf is not None:
            msg = _encode(str(message)) if message else None
            _ffi.span_set_status(self._buf, int(code), msg, _size(len(msg) if msg else 0))
        return self

    def set_error(self, error_type, message=None):
        """error.type = error_type (an exception or error-code name) and status ERROR."""
        self.set("error.type", error_type)
        return self.set_status(StatusCode.ERROR, message)

    def record_exception(self, exc, escaped=False):
        """Records an exception: an "exception" event (exception.type, .message, .stacktrace),
        error.type and status ERROR with the message. Returns self."""
        cls = type(exc)
        qualified = cls.__qualname__ if cls.__module__ == "builtins" else (
            "%s.%s" % (cls.__module__, cls.__qualname__))
        message = str(exc)
        event = {"exception.type": qualified, "exception.message": message}
        if escaped:
            event["exception.escaped"] = True
        if exc.__traceback__ is not None:
            event["exception.stacktrace"] = "".join(
                traceback.format_exception(cls, exc, exc.__traceback__))
        self.add_event("exception", event)
        self.set("error.type", cls.__qualname__)
        return self.set_status(StatusCode.ERROR, message or cls.__qualname__)

    @property
    def context(self):
        """This span's SpanContext (invalid before it starts, or if tracing was off then)."""
        if self._ctx is None:
            return SpanContext()
        copy = _ContextBuffer()
        copy[:] = self._ctx
        return SpanContext(copy)

    @property
    def traceparent(self):
        """This span's W3C traceparent, or None."""
        return self.context.traceparent

    @property
    def is_recording(self):
        """True while the span runs and is recorded (enabled, sampled, start not dropped)."""
        return self._buf is not None and bool(_ffi.span_is_recording(self._buf))

    def __repr__(self):
        return "<agentring.Span %r kind=%s %s>" % (
            self.name, Kind(self.kind).name if 0 <= self.kind < 13 else self.kind,
            self.context.traceparent or "not started")


span = Span


# ---- Current span, processes, threads -----------------------------------------------------------


def current_span():
    """The current Span of this context (thread or asyncio task), or None."""
    return _cur_get()


def current_context():
    """The current span's SpanContext, or an invalid one when there is none."""
    cur = _cur_get()
    return cur.context if cur is not None else SpanContext()


def traceparent():
    """The current span's W3C traceparent (for a child process's TRACEPARENT), or None."""
    cur = _cur_get()
    return cur.traceparent if cur is not None else None


def child_env(env=None, **extra):
    """A copy of `env` (default os.environ) with TRACEPARENT set to the current span, for
    subprocess.run(..., env=agentring.child_env()): the child's spans nest under this span.
    With no current span the environment's own TRACEPARENT (if any) is left as is. Keyword
    arguments are added as more variables."""
    out = dict(os.environ if env is None else env)
    tp = traceparent()
    if tp is not None:
        out["TRACEPARENT"] = tp
    out.update(extra)
    return out


def wrap(fn):
    """fn bound to the current context: the returned callable runs fn in a copy of the context
    captured now (so a thread pool's worker nests its spans under the caller's span).

    A new threading.Thread, and an executor's worker, start with an empty context: wrap the
    function at submit time, e.g. pool.submit(agentring.wrap(work), item). (asyncio.to_thread
    and tasks copy the context themselves.)"""
    captured = contextvars.copy_context()

    @functools.wraps(fn)
    def run_in_captured_context(*args, **kwargs):
        return captured.copy().run(fn, *args, **kwargs)

    return run_in_captured_context


def traced(name=None, kind=Kind.CUSTOM, attributes=None, suffix=None):
    """Decorator: runs each call of the function in a span (default name: its __qualname__).

    For a coroutine function the span covers the awaited body (and tasks created inside nest
    under it). A generator function's span covers only the call that creates the generator.
    Usable bare (@traced) or called (@traced("name", kind=Kind.TOOL))."""
    if callable(name) and not isinstance(name, str):
        return traced()(name)

    def decorate(fn):
        span_name = name or fn.__qualname__
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def traced_coroutine(*args, **kwargs):
                with Span(span_name, kind, attributes, suffix):
                    return await fn(*args, **kwargs)

            return traced_coroutine

        @functools.wraps(fn)
        def traced_function(*args, **kwargs):
            with Span(span_name, kind, attributes, suffix):
                return fn(*args, **kwargs)

        return traced_function

    return decorate


# ---- Process-wide settings ----------------------------------------------------------------------


def set_segment(name):
    """Chooses the segment to write to (default $AGENTRING_SEGMENT, else "agentring"); call it
    before the first span. Raises ValueError unless name is 1..200 of [A-Za-z0-9._-]."""
    b = name.encode()
    if not _ffi.set_segment_name(b, len(b)):
        raise ValueError("agentring: bad segment name %r (1..200 characters of [A-Za-z0-9._-])"
                         % (name,))


def set_enabled(enabled):
    """Turns recording on or off for the whole process (AGENTRING_DISABLED=1 starts it off)."""
    global _recording_hint
    _recording_hint = bool(enabled)
    _ffi.set_enabled(1 if enabled else 0)


def is_enabled():
    return bool(_ffi.is_enabled())


def set_sampler(name, ratio=1.0):
    """Head sampler (OTEL_TRACES_SAMPLER names: always_on, always_off, traceidratio,
    parentbased_always_on, ...). Raises ValueError for an unknown name or ratio outside [0, 1]."""
    b = name.encode()
    if not _ffi.set_sampler(b, len(b), float(ratio)):
        raise ValueError("agentring: unknown sampler %r or ratio %r outside [0, 1]" % (name, ratio))


def set_inherited_parent(parent):
    """Parent of spans with no local parent (replaces TRACEPARENT): a SpanContext, Span or
    traceparent; None clears it."""
    if parent is None:
        _ffi.clear_inherited_parent()
    else:
        _ffi.set_inherited_parent(_parent_buffer(parent))


def clear_inherited_parent():
    """Forgets the inherited parent (TRACEPARENT): later root spans start new traces."""
    _ffi.clear_inherited_parent()


def flush():
    """Does nothing (every record is published when written); for symmetry with other APIs."""
    _ffi.flush()


def release_thread_lane():
    """Releases this thread's lane now (a pool thread that will trace no more)."""
    _ffi.release_thread_lane()


def stats():
    """This process's writer counters (agentring_stats) as a dict."""
    s = _ffi.Stats()
    s.struct_size = _ffi.ctypes.sizeof(_ffi.Stats)
    _ffi.get_stats(s)
    return {name: getattr(s, name) for name, _ in _ffi.Stats._fields_
            if name not in ("struct_size", "reserved")}
