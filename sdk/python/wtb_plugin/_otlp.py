"""The OTLP/HTTP receiver for processes a Python runner's nodes start: the Go
executor's (sdk/traces) in Python. One listener on loopback per plugin
process, started at the first NodeSpans.env(); each node run's endpoint
carries a token of its own in its path (/otlp/TOKEN/v1/traces), so a span
belongs to the run whose endpoint it was sent to, whatever trace it is in,
and an export after the node run finished is refused (404), never given to
another run. Protobuf and OTLP/JSON, identity or gzip; metrics and logs sent
to the same endpoint are accepted and not kept. Needs opentelemetry-proto
(the "traces" extra)."""

import base64
import gzip
import json
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from . import types as t

log = logging.getLogger("wtb_plugin")

PATH_PREFIX = "/otlp/"
MAX_REQUEST_BYTES = 32 << 20  # one export request, decompressed

_KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_STATUSES = {0: "unset", 1: "ok", 2: "error"}


class Receiver:
    def __init__(self):
        self._lock = threading.Lock()
        self._runs = {}  # token -> NodeSpans
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                receiver._serve(self)

            def log_message(self, fmt, *args):  # not on stderr for every export
                log.debug("OTLP receiver: " + fmt, *args)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base = "http://127.0.0.1:%d" % self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="wtb-otlp-receiver", daemon=True).start()

    def register(self, run) -> str:
        token = os.urandom(16).hex()
        with self._lock:
            self._runs[token] = run
        return token

    def unregister(self, token: str) -> None:
        with self._lock:
            self._runs.pop(token, None)

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        if "chunked" in (h.headers.get("Transfer-Encoding") or "").lower():
            # OpenTelemetry's exporters send a Content-Length; nothing here
            # reads chunks.
            h.close_connection = True
            return _reply(h, 411, "text/plain", b"wtb OTLP receiver: send a Content-Length (no chunked bodies)")
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if 0 < length <= MAX_REQUEST_BYTES else b""
        if length > MAX_REQUEST_BYTES:
            h.close_connection = True
            return _reply(h, 413, "text/plain", b"wtb OTLP receiver: an export request over 32 MiB")
        if not h.path.startswith(PATH_PREFIX):
            return _reply(h, 404, "text/plain", b"wtb OTLP receiver: unknown path " + h.path.encode())
        token, _, signal = h.path[len(PATH_PREFIX):].partition("/")
        with self._lock:
            run = self._runs.get(token)
        if run is None:
            return _reply(h, 404, "text/plain",
                          b"wtb OTLP receiver: this endpoint belongs to no node run (a process that outlived its node?)")
        is_json = (h.headers.get("Content-Type") or "").startswith("application/json")
        if signal in ("v1/metrics", "v1/logs"):
            return _respond(h, is_json, 0, "")
        if signal != "v1/traces":
            return _reply(h, 404, "text/plain", b"wtb OTLP receiver: unknown signal " + signal.encode())
        try:
            encoding = h.headers.get("Content-Encoding") or "identity"
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding != "identity":
                raise ValueError("unsupported Content-Encoding %r (identity or gzip)" % encoding)
            if len(body) > MAX_REQUEST_BYTES:
                raise ValueError("an export request over 32 MiB")
            req = trace_service_pb2.ExportTraceServiceRequest()
            if is_json:
                json_format.Parse(json.dumps(_hex_ids_to_base64(json.loads(body))), req, ignore_unknown_fields=True)
            else:
                req.ParseFromString(body)
            spans = list(decode(req, run.node))
        except Exception as e:  # a bad request is the exporter's problem, answered as such
            return _reply(h, 400, "text/plain", ("wtb OTLP receiver: %s" % e).encode())
        dropped, ok = run._add_all(spans)
        if not ok:
            return _reply(h, 404, "text/plain", b"wtb OTLP receiver: the node run this endpoint belonged to has ended")
        msg = ""
        if dropped:
            msg = "wtb: node %r is past its bound of %d spans or %d MiB per node run; %d spans dropped" % (
                run.node, run.max_spans, run.max_bytes >> 20, dropped)
        _respond(h, is_json, dropped, msg)


def _reply(h, code: int, content_type: str, body: bytes) -> None:
    h.send_response(code)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def _respond(h, is_json: bool, rejected: int, msg: str) -> None:
    """An ExportTraceServiceResponse: empty, or its partial_success saying
    how many spans were rejected and why."""
    if is_json:
        doc = {}
        if rejected:
            doc = {"partialSuccess": {"rejectedSpans": str(rejected), "errorMessage": msg}}
        return _reply(h, 200, "application/json", json.dumps(doc).encode())
    resp = trace_service_pb2.ExportTraceServiceResponse()
    if rejected:
        resp.partial_success.rejected_spans = rejected
        resp.partial_success.error_message = msg
    _reply(h, 200, "application/x-protobuf", resp.SerializeToString())


def _hex_ids_to_base64(v):
    """OTLP/JSON writes ids in hex; protobuf's JSON reads bytes in base64."""
    if isinstance(v, dict):
        out = {}
        for k, e in v.items():
            if k in ("traceId", "spanId", "parentSpanId") and isinstance(e, str):
                out[k] = base64.b64encode(bytes.fromhex(e)).decode()
            else:
                out[k] = _hex_ids_to_base64(e)
        return out
    if isinstance(v, list):
        return [_hex_ids_to_base64(e) for e in v]
    return v


def _any_value(v):
    which = v.WhichOneof("value")
    if which == "string_value":
        return v.string_value
    if which == "bool_value":
        return v.bool_value
    if which == "int_value":
        return v.int_value
    if which == "double_value":
        return v.double_value
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    if which == "array_value":
        return [_any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in v.kvlist_value.values}
    return None


def _attributes(kvs):
    from .spans import _value
    return {kv.key: _value(_any_value(kv.value)) for kv in kvs}


def decode(req, node: str):
    """The spans of an ExportTraceServiceRequest, in WTB's form."""
    from .spans import _rfc3339
    for rs in req.resource_spans:
        service = ""
        for kv in rs.resource.attributes:
            if kv.key == "service.name":
                service = kv.value.string_value
        for ss in rs.scope_spans:
            for s in ss.spans:
                events = []
                for e in s.events:
                    ev = {"name": e.name, "time": _rfc3339(e.time_unix_nano)}
                    if e.attributes:
                        ev["attributes"] = _attributes(e.attributes)
                    events.append(ev)
                yield t.Span(trace_id=s.trace_id.hex(), span_id=s.span_id.hex(), parent_span_id=s.parent_span_id.hex(),
                             name=s.name, kind=_KINDS.get(s.kind, ""), start_unix_nano=s.start_time_unix_nano,
                             end_unix_nano=s.end_time_unix_nano, status=_STATUSES.get(s.status.code, "unset"),
                             status_message=s.status.message, attributes=_attributes(s.attributes), events=events,
                             service=service or node, scope=ss.scope.name, source=t.SPAN_SOURCE_NODE)
