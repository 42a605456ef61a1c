"""The spans of in-process Python nodes: what a node function makes with
OpenTelemetry comes back with its node run, as a Go runner's nodes' spans do.

A runner that calls node code in its own process wraps each node run:

    from wtb_plugin import spans

    run = spans.start(node.name)           # the node run's own span and trace
    try:
        output = run.call(fn, doc)          # fn runs under the node run's span
    except Exception as e:
        events.node_failed(node.name, str(e), spans=run.finish(failure=str(e)))
        ...
    events.node_finished(node.name, state, output, seconds, spans=run.finish())

The spans are collected by the OpenTelemetry Python SDK's own machinery, not
an OTLP round trip: a span processor on the process's tracer provider gives
each span to the node run it belongs to. Which one is read from the span, not
from a "current node" of the process, so node runs in many threads or
asyncio tasks at once each keep their own:

* a span in the node run's trace (its parent chain leads to the node run's
  span, which run.call makes the current span) is that node run's, in
  whatever thread it starts, so a context handed to a worker thread keeps it;
* a span that starts a trace of its own (start_span(context=Context()))
  belongs to the node run whose context is current where it starts (run.call
  and run.attached() set it; asyncio tasks inherit it, plain threads do not).

A span that ends after its node run finished (a thread left behind by a
timeout) is nobody's and is not counted. A node run keeps at most
MAX_SPANS_PER_NODE_RUN (2,000) spans and MAX_SPAN_BYTES_PER_NODE_RUN (4 MiB)
of them, the bound of the Go executor's OTLP receiver: past either, spans are
dropped, counted in Spans.dropped, and the plugin's log says so once per node
run. The node run's own span (source "wtb", status error with the failure
when it failed) is the root of the rest; a node run with no spans reports
none at all.

A process the node starts sends its spans to the node run through the
OTLP/HTTP endpoint in run.env() (the variables a Go runner gives a command
node: OTEL_EXPORTER_OTLP_ENDPOINT, TRACEPARENT, ...): a receiver on loopback,
one per plugin process, attributing each export by the token in its path.

OpenTelemetry is optional (pip install "wtb-plugin[traces]"): without
opentelemetry-sdk, run.call only calls and finish() returns no spans. The
tracer provider is one per process (OpenTelemetry's global): at the first
node run this module sets an SDK TracerProvider as the global one if none was
set, or adds its processor to the SDK TracerProvider the plugin set before
(so a plugin may still export its spans elsewhere as well).
"""

import logging
import math
import os
import threading
import time
from typing import Any, Callable, Dict, Optional

from . import types as t
from ._wire import dumps as _dumps

log = logging.getLogger("wtb_plugin")

try:
    from opentelemetry import context as _otel_context
    from opentelemetry import trace as _otel_trace
    from opentelemetry.sdk.trace import SpanProcessor as _SpanProcessor
    from opentelemetry.sdk.trace import TracerProvider as _SDKTracerProvider
except ImportError:  # the "traces" extra is not installed: no spans
    _otel_context = None
    _otel_trace = None
    _SpanProcessor = object
    _SDKTracerProvider = None


def available() -> bool:
    """True when the OpenTelemetry SDK is installed and node runs get spans."""
    return _SDKTracerProvider is not None


def _new_id(nbytes: int) -> int:
    while True:
        v = int.from_bytes(os.urandom(nbytes), "big")
        if v:
            return v


class NodeSpans:
    """One node run's spans: made by start(), ended by finish()."""

    def __init__(self, node: str, max_spans: int, max_bytes: int, router: Optional["_Router"]):
        self.node = node
        self._trace_id = _new_id(16)
        self._span_id = _new_id(8)
        # The ids of the node run's own span, as in a traceparent.
        self.trace_id = "%032x" % self._trace_id
        self.span_id = "%016x" % self._span_id
        self.max_spans = max_spans
        self.max_bytes = max_bytes
        self._start = time.time_ns()
        self._router = router
        self._lock = threading.Lock()
        self._spans = []
        self._bytes = 0
        self._dropped = 0
        self._done = False
        self._token = None  # the node run's OTLP endpoint's, once env() made one
        self._context = None
        if router is not None:
            parent = _otel_trace.NonRecordingSpan(_otel_trace.SpanContext(
                self._trace_id, self._span_id, is_remote=False,
                trace_flags=_otel_trace.TraceFlags(_otel_trace.TraceFlags.SAMPLED)))
            # A fresh context: nothing of the runner's own leaks into the node.
            ctx = _otel_trace.set_span_in_context(parent, _otel_context.Context())
            self._context = _otel_context.set_value(_RUN_KEY, self, ctx)
            router.register(self)

    @property
    def traceparent(self) -> str:
        """The W3C traceparent of the node run's span (for code that starts its
        root span by hand, or a process the node starts)."""
        return "00-%s-%s-01" % (self.trace_id, self.span_id)

    def context(self):
        """The OpenTelemetry Context whose current span is the node run's
        (None without OpenTelemetry): pass it as start_span(context=...)."""
        return self._context

    def call(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        """Calls fn with the node run's span as the current span; the spans it
        makes (and its asyncio tasks) are this node run's."""
        with self.attached():
            return fn(*args, **kwargs)

    def attached(self):
        """A context manager making the node run's span the current span in
        this thread or asyncio task, for a runner that calls node code itself."""
        return _Attached(self._context)

    def finish(self, failure: str = "") -> t.Spans:
        """Ends the node run's collection and returns its spans, the node run's
        own span first (none at all when the node made none). failure, when
        the node failed, is the node run's span's error. A second call
        returns no spans."""
        end = time.time_ns()
        with self._lock:
            if self._done:
                return t.Spans()
            self._done = True
            spans, dropped = self._spans, self._dropped
            self._spans = []
            token, self._token = self._token, None
        if self._router is not None:
            self._router.unregister(self)
        if token is not None:
            _the_receiver().unregister(token)
        if not spans and not dropped:
            return t.Spans()
        root = t.Span(trace_id=self.trace_id, span_id=self.span_id, name=self.node, kind="internal",
                      start_unix_nano=self._start, end_unix_nano=end, status="ok", attributes={"wtb.node": self.node},
                      service=self.node, scope="wtb", source=t.SPAN_SOURCE_WTB)
        if failure:
            root.status, root.status_message = "error", failure
        return t.Spans(spans=[root] + spans, dropped=dropped)

    def env(self) -> Dict[str, str]:
        """What a process the node starts needs to send its spans to this node
        run, as the Go executor gives a command node: the OTLP/HTTP endpoint
        of a receiver on loopback with a token of this run's in its path, the
        protocol, OTEL_SERVICE_NAME (the node's name) and TRACEPARENT naming
        the node run's span. {} without OpenTelemetry (or opentelemetry-proto,
        which decodes the exports). The endpoint works until finish()."""
        if self._router is None:
            return {}
        receiver = _the_receiver()
        if receiver is None:
            return {}
        with self._lock:
            if self._done:
                return {}
            if self._token is None:
                self._token = receiver.register(self)
            endpoint = receiver.base + "/otlp/" + self._token
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint + "/v1/traces",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            "OTEL_SERVICE_NAME": self.node,
            "TRACEPARENT": self.traceparent,
        }

    def _add(self, span: t.Span) -> None:
        self._add_all([span])

    def _add_all(self, spans) -> tuple:
        """Keeps spans within the bound; returns how many it dropped and
        False when the node run has finished (none kept)."""
        dropped = 0
        with self._lock:
            if self._done:
                return 0, False
            for span in spans:
                size = span_size(span)
                if len(self._spans) >= self.max_spans or self._bytes + size > self.max_bytes:
                    dropped += 1
                else:
                    self._spans.append(span)
                    self._bytes += size
            first = dropped > 0 and self._dropped == 0
            self._dropped += dropped
        if first:
            log.warning("node %r is past its bound of %d spans or %d MiB per node run; its further spans are "
                        "dropped and counted", self.node, self.max_spans, self.max_bytes >> 20)
        return dropped, True


class _Attached:
    def __init__(self, ctx):
        self._ctx = ctx
        self._token = None

    def __enter__(self):
        if self._ctx is not None:
            self._token = _otel_context.attach(self._ctx)
        return self

    def __exit__(self, *exc):
        if self._token is not None:
            _otel_context.detach(self._token)
            self._token = None
        return False


# The key under which a node run's context carries its NodeSpans.
_RUN_KEY = "wtb.node_run" if _otel_context is None else _otel_context.create_key("wtb.node_run")


def span_size(s: t.Span) -> int:
    """What a span weighs against the bytes bound, as the Go receiver counts it."""
    return (len(s.name.encode()) + len(_json(s.attributes)) + len(_json(s.events)) + len(s.status_message.encode())
            + len(s.service.encode()) + len(s.scope.encode()) + 128)


def _json(v) -> bytes:
    return _dumps(v) if v else b""


class _Router(_SpanProcessor):
    """The span processor on the process's tracer provider: it hands each
    span to its node run (see the module's doc)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_trace: Dict[int, NodeSpans] = {}
        self._open: Dict[tuple, NodeSpans] = {}  # (trace id, span id) of a started span -> its node run

    def register(self, run: NodeSpans) -> None:
        with self._lock:
            self._by_trace[run._trace_id] = run

    def unregister(self, run: NodeSpans) -> None:
        with self._lock:
            self._by_trace.pop(run._trace_id, None)
            for k in [k for k, r in self._open.items() if r is run]:
                del self._open[k]

    def on_start(self, span, parent_context=None) -> None:
        sc = span.get_span_context()
        with self._lock:
            run = self._by_trace.get(sc.trace_id)
        if run is None:
            # A trace of the node's own making: the node run whose context
            # is current where the span starts.
            run = _otel_context.get_value(_RUN_KEY, parent_context) or _otel_context.get_value(_RUN_KEY)
        if isinstance(run, NodeSpans):
            with self._lock:
                if run._trace_id in self._by_trace:
                    self._open[(sc.trace_id, sc.span_id)] = run

    def on_end(self, span) -> None:
        sc = span.get_span_context()
        with self._lock:
            run = self._open.pop((sc.trace_id, sc.span_id), None)
        if run is not None:
            run._add(convert(span, run.node))

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


_setup_lock = threading.Lock()
_router: Optional[_Router] = None
_unsupported_logged = False


def _the_router() -> Optional[_Router]:
    """The process's router, installed on first use (None without
    OpenTelemetry, or when the global tracer provider is not the SDK's)."""
    global _router, _unsupported_logged
    if not available():
        return None
    with _setup_lock:
        if _router is not None:
            return _router
        provider = _otel_trace.get_tracer_provider()
        if not isinstance(provider, _SDKTracerProvider) and isinstance(provider, _otel_trace.ProxyTracerProvider):
            # Nobody set one: ours. Another thread may win the race; then
            # theirs is read back below.
            _otel_trace.set_tracer_provider(_SDKTracerProvider())
            provider = _otel_trace.get_tracer_provider()
        if not isinstance(provider, _SDKTracerProvider):
            if not _unsupported_logged:
                _unsupported_logged = True
                log.warning("the global OpenTelemetry tracer provider is a %s, not the OpenTelemetry SDK's "
                            "TracerProvider: Python nodes' spans are not collected", type(provider).__name__)
            return None
        router = _Router()
        provider.add_span_processor(router)
        _router = router
        return router


_receiver = None
_receiver_failed = False


def _the_receiver():
    """The process's OTLP receiver, started at first use (None when
    opentelemetry-proto is missing or it cannot listen; said once)."""
    global _receiver, _receiver_failed
    with _setup_lock:
        if _receiver is None and not _receiver_failed:
            try:
                from ._otlp import Receiver
                _receiver = Receiver()
            except Exception as e:
                _receiver_failed = True
                log.warning("no OTLP endpoint for the processes Python nodes start: %s: %s", type(e).__name__, e)
        return _receiver


def start(node: str, max_spans: int = t.MAX_SPANS_PER_NODE_RUN,
          max_bytes: int = t.MAX_SPAN_BYTES_PER_NODE_RUN) -> NodeSpans:
    """Starts collecting a node run's spans; end it with finish(), whatever
    happens to the node."""
    return NodeSpans(node, max_spans, max_bytes, _the_router())


# -- conversion to WTB's span form ---------------------------------------------

def _rfc3339(unix_nano: int) -> str:
    """A time as Go's time.RFC3339Nano writes it in UTC (fraction trimmed)."""
    secs, frac = divmod(int(unix_nano), 1_000_000_000)
    s = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac:
        s += "." + ("%09d" % frac).rstrip("0")
    return s + "Z"


def _value(v):
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # NaN and the infinities are no JSON
    if isinstance(v, (list, tuple)):
        return [_value(x) for x in v]
    if isinstance(v, bytes):
        import base64
        return base64.b64encode(v).decode()
    return v


def _attrs(a) -> Dict[str, Any]:
    return {str(k): _value(v) for k, v in (a or {}).items()}


def convert(span, node: str) -> t.Span:
    """An OpenTelemetry SDK ReadableSpan as a WTB span of node's run."""
    sc = span.get_span_context()
    service = ""
    if span.resource is not None:
        service = str(span.resource.attributes.get("service.name") or "")
    if not service or service.startswith("unknown_service"):
        # As the Go executor's OTEL_SERVICE_NAME: the node's name.
        service = node
    events = []
    for e in span.events or ():
        ev = {"name": e.name, "time": _rfc3339(e.timestamp)}
        if e.attributes:
            ev["attributes"] = _attrs(e.attributes)
        events.append(ev)
    status = span.status
    scope = span.instrumentation_scope.name if span.instrumentation_scope is not None else ""
    return t.Span(trace_id="%032x" % sc.trace_id, span_id="%016x" % sc.span_id,
                  parent_span_id="%016x" % span.parent.span_id if span.parent is not None else "",
                  name=span.name, kind=span.kind.name.lower() if span.kind is not None else "",
                  start_unix_nano=span.start_time or 0, end_unix_nano=span.end_time or 0,
                  status=status.status_code.name.lower() if status is not None else "unset",
                  status_message=(status.description or "") if status is not None else "",
                  attributes=_attrs(span.attributes), events=events, service=service, scope=scope,
                  source=t.SPAN_SOURCE_NODE)
