"""go-plugin's side of the plugin process, in Python.

What a Go plugin gets from go-plugin's plugin.Serve, done by hand
(go-plugin's docs/guide-plugin-write-non-go.md covers the first three):

* the magic cookie check, and protocol negotiation (PLUGIN_PROTOCOL_VERSIONS);
* a gRPC server on a Unix socket with the standard health service, "plugin"
  SERVING;
* the handshake line on stdout, and nothing else on stdout before it:
  CORE|APP|unix|SOCKET|grpc|SERVER-CERT;
* AutoMTLS: the host puts its certificate (PEM) in PLUGIN_CLIENT_CERT; the
  plugin makes a self-signed certificate for "localhost", requires and
  verifies the host's, and sends its own as base64 DER (no padding) in the
  handshake line's sixth field;
* plugin.GRPCController/Shutdown, which the host calls to stop the plugin
  gracefully (then it waits 2 s before killing it);
* plugin.GRPCStdio/StreamStdio: after the handshake, what the process writes
  to stdout, and Python's sys.stderr, travel to the host over this stream;
* logs as hclog JSON lines on the real stderr, which the host parses into its
  own log with their levels.

WTB's own additions, as its Go SDK: the plugin stops its work when the host
dies (parent-death SIGTERM, or a changed parent pid) and takes the processes
of its process group with it.
"""

import base64
import datetime
import json
import logging
import os
import queue
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from . import types as t

CORE_PROTOCOL_VERSION = 1  # go-plugin's own protocol, not WTB's
GRPC_SERVICE_NAME = "plugin"  # the name go-plugin's health check asks about

log = logging.getLogger("wtb_plugin")

# The real stdout, kept for the handshake line once protect_stdout has pointed
# fd 1 at stderr. A process has one stdout, so this is process state.
_handshake_fd = None


def protect_stdout() -> None:
    """Points fd 1 at stderr until the handshake, keeping the real stdout for
    the handshake line: go-plugin takes any earlier line on stdout for a
    broken handshake, and a print() at import time, a C extension's banner or
    a child process would write one. wtb_plugin calls it when imported under
    the host (the magic cookie is set), so everything imported after it is
    safe; serve() calls it again in case it was not."""
    global _handshake_fd
    if _handshake_fd is None:
        sys.stdout.flush()
        _handshake_fd = os.dup(1)
        os.dup2(2, 1)


def serve(kind_name: str, register, on_stop, name: str) -> None:
    """Runs the plugin until the host is done with it; never returns.

    register(server) adds the WTB service; on_stop(cause) cancels the work
    and releases the implementation's resources (bounded by the caller).
    """
    if os.environ.get(t.MAGIC_COOKIE_KEY) != t.MAGIC_COOKIE_VALUE:
        sys.stderr.write("%s is a WTB plugin; the wtb host starts it (run `wtb plugins` to list plugins), "
                         "it is not meant to be run by hand.\n" % os.path.basename(sys.argv[0]))
        sys.exit(1)

    # stdout carries the handshake line alone; until then whatever is written
    # to fd 1 goes to stderr, where the host logs it.
    protect_stdout()
    handshake_fd = _handshake_fd
    # The logger writes to its own copy of stderr: sys.stderr is redirected
    # below, fd 2 is not (a crash's last words still reach the host).
    log_file = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    _setup_logging(log_file, name)
    _route_uncaught_exceptions()

    stopping = _Stopper(on_stop)
    # Ctrl-C in a terminal signals the whole foreground group; the host
    # decides when a plugin stops (go-plugin plugins ignore SIGINT too).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stopping.orphaned("terminated"))
    threading.Thread(target=_watch_parent, args=(stopping,), name="wtb-parent-watch", daemon=True).start()

    version = _negotiate()
    sock_dir = tempfile.mkdtemp(prefix="wtb-plugin-", dir=_socket_parent())
    address = os.path.join(sock_dir, "plugin.sock")
    stopping.sock_dir = sock_dir

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="wtb-grpc"),
        options=[("grpc.max_receive_message_length", t.MAX_MESSAGE_BYTES),
                 ("grpc.max_send_message_length", t.MAX_MESSAGE_BYTES),
                 # As the Go SDK: a session carries many small messages; a
                 # large window saves window updates.
                 ("grpc.http2.lookahead_bytes", 8 << 20),
                 ("grpc.http2.min_ping_interval_without_data_ms", 5000)])
    stopping.server = server
    health_servicer = health.HealthServicer()
    health_servicer.set(GRPC_SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    stdio = _Stdio()
    server.add_generic_rpc_handlers((_controller_handler(stopping), stdio.handler()))
    register(server)

    cert_field = ""
    client_cert = os.environ.get("PLUGIN_CLIENT_CERT", "")
    if client_cert:
        from ._tls import self_signed_localhost

        cert_pem, key_pem, cert_der = self_signed_localhost()
        creds = grpc.ssl_server_credentials([(key_pem, cert_pem)], root_certificates=client_cert.encode(),
                                            require_client_auth=True)
        server.add_secure_port("unix:" + address, creds)
        cert_field = base64.b64encode(cert_der).decode().rstrip("=")
    else:
        # A host without AutoMTLS (go-plugin's default); WTB's always sets it.
        server.add_insecure_port("unix:" + address)
    server.start()

    line = "%d|%d|unix|%s|grpc|%s\n" % (CORE_PROTOCOL_VERSION, version, address, cert_field)
    os.write(handshake_fd, line.encode())
    os.close(handshake_fd)
    stdio.capture()
    log.debug("plugin address", extra={"kv": {"network": "unix", "address": address}})

    server.wait_for_termination()
    stopping.finish("the host closed the plugin")
    stopping.remove_socket()
    _exit(0)


def _negotiate() -> int:
    """The app protocol version for the handshake line: ours, which the host
    must offer. When it does not, go-plugin on the host says the versions do
    not match (WTB turns that into an upgrade hint), as for a Go plugin."""
    offered = os.environ.get("PLUGIN_PROTOCOL_VERSIONS", "")
    versions = set()
    for v in offered.split(","):
        try:
            versions.add(int(v))
        except ValueError:
            pass
    if versions and t.PROTOCOL_VERSION not in versions:
        log.warning("the host offers protocol versions %s; this plugin speaks %d", sorted(versions), t.PROTOCOL_VERSION)
    return t.PROTOCOL_VERSION


def _socket_parent():
    """Where the plugin's socket directory goes: in the directory the host
    made for this plugin's socket when it names one (go-plugin's
    PLUGIN_UNIX_SOCKET_DIR), which the host removes when it stops the
    plugin, so a plugin killed outright leaves nothing; else (or when the
    socket's path would be too long there for a Unix socket) the system's
    temporary directory."""
    parent = os.environ.get("PLUGIN_UNIX_SOCKET_DIR") or ""
    # wtb-plugin-XXXXXXXX/plugin.sock, within the 103 bytes sun_path holds
    # everywhere (104 on macOS, with its NUL).
    if parent and len(parent) + len("/wtb-plugin-abcdefgh/plugin.sock") <= 103:
        return parent
    return None


class _Stopper:
    """Stops the plugin once, whatever asked first: the host (Shutdown via
    GRPCController), SIGTERM, or the host's disappearance."""

    def __init__(self, on_stop):
        self.on_stop = on_stop
        self.server = None
        # The directory of the plugin's socket: removed on every way out
        # (a plugin the host had to give up on left one per run before).
        self.sock_dir = ""
        self._lock = threading.Lock()
        self._stopped = False

    def _stop_work(self, cause: str) -> bool:
        with self._lock:
            if self._stopped:
                return False
            self._stopped = True
        try:
            self.on_stop(cause)
        except Exception:
            log.error("stopping the plugin failed", extra={"kv": {"error": traceback.format_exc()}})
        return True

    def shutdown(self) -> None:
        """The host's graceful stop: finish in the background so the RPC's
        answer goes out first."""

        def run():
            self._stop_work("the plugin was shut down by the host")
            if self.server is not None:
                self.server.stop(grace=0.5)

        threading.Thread(target=run, name="wtb-shutdown", daemon=True).start()

    def orphaned(self, why: str) -> None:
        """The host is gone (or terminated us): stop the work, then everything
        in the plugin's process group goes, this process included."""
        log.warning("%s; stopping running executions" % why)
        threading.Thread(target=self._die, args=(why,), name="wtb-orphaned", daemon=True).start()

    def _die(self, why):
        # Bounded: the host, if alive, kills the plugin 2 s after asking.
        done = threading.Thread(target=self._stop_work, args=("the wtb host is gone: %s" % why,), daemon=True)
        done.start()
        done.join(2.0)
        self.remove_socket()
        _kill_group_and_exit(3)

    def remove_socket(self) -> None:
        if self.sock_dir:
            shutil.rmtree(self.sock_dir, ignore_errors=True)

    def finish(self, cause: str) -> None:
        self._stop_work(cause)


def _kill_group_and_exit(code: int) -> None:
    _flush()
    # The host starts each plugin as the leader of a session and process group
    # of its own: what the plugin started is in it, unless it left on purpose.
    if os.getpgrp() == os.getpid():
        try:
            os.killpg(os.getpgrp(), signal.SIGKILL)
        except OSError:
            pass
    os._exit(code)


def _exit(code: int) -> None:
    _flush()
    # Threads still running a runner's abandoned node code must not keep the
    # process alive after the host is done with it.
    os._exit(code)


def _flush():
    for h in logging.getLogger().handlers:
        try:
            h.flush()
        except Exception:
            pass
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except Exception:
            pass


def _watch_parent(stopping: _Stopper) -> None:
    """A host killed with SIGKILL cannot clean up; the kernel re-parents the
    plugin, which the changed parent pid shows."""
    parent = os.getppid()
    while True:
        time.sleep(0.25)
        if os.getppid() != parent:
            stopping.orphaned("the wtb host is gone (old parent pid %d)" % parent)
            return


def _controller_handler(stopping: _Stopper):
    """plugin.GRPCController: Shutdown(Empty) returns (Empty). Empty encodes to
    no bytes, so no generated code is needed."""

    def shutdown(_request, _context):
        stopping.shutdown()
        return None

    return grpc.method_handlers_generic_handler("plugin.GRPCController", {
        "Shutdown": grpc.unary_unary_rpc_method_handler(
            shutdown, request_deserializer=lambda b: b, response_serializer=lambda _: b""),
    })


STDIO_STDOUT = 1
STDIO_STDERR = 2


def encode_stdio_data(channel: int, data: bytes) -> bytes:
    """plugin.StdioData{channel = 1 (enum), data = 2 (bytes)} in protobuf's wire
    format: two fields do not justify vendoring go-plugin's .proto files."""
    return b"\x08" + _varint(channel) + b"\x12" + _varint(len(data)) + data


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class _Stdio:
    """plugin.GRPCStdio: after the handshake, fd 1 and sys.stderr become pipes
    whose contents go to the host (its plugin log, stream=stdout/stderr)."""

    def __init__(self):
        # Bounded: like go-plugin's pipes, writers wait when nobody reads.
        self.chunks = queue.Queue(maxsize=1024)

    def capture(self) -> None:
        r_out, w_out = os.pipe()
        os.dup2(w_out, 1)
        os.close(w_out)
        sys.stdout = os.fdopen(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
        r_err, w_err = os.pipe()
        sys.stderr = os.fdopen(w_err, "w", buffering=1, encoding="utf-8", errors="replace")
        for fd, channel in ((r_out, STDIO_STDOUT), (r_err, STDIO_STDERR)):
            threading.Thread(target=self._copy, args=(fd, channel), name="wtb-stdio", daemon=True).start()

    def _copy(self, fd: int, channel: int) -> None:
        while True:
            data = os.read(fd, 1024)
            if not data:
                return
            self.chunks.put((channel, data))

    def _stream(self, _request, context):
        while context.is_active():
            try:
                channel, data = self.chunks.get(timeout=0.5)
            except queue.Empty:
                continue
            yield encode_stdio_data(channel, data)

    def handler(self):
        return grpc.method_handlers_generic_handler("plugin.GRPCStdio", {
            "StreamStdio": grpc.unary_stream_rpc_method_handler(
                self._stream, request_deserializer=lambda b: b, response_serializer=lambda b: b),
        })


_LEVELS = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn", logging.ERROR: "error",
           logging.CRITICAL: "error"}


class HclogFormatter(logging.Formatter):
    """One hclog JSON object a line, the format go-plugin parses on the host:
    @level, @message, @module, @timestamp and the record's key-values."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name

    def format(self, record: logging.LogRecord) -> str:
        level = _LEVELS.get(record.levelno, "trace" if record.levelno < logging.DEBUG else "info")
        ts = datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
        entry = {
            "@level": level,
            "@message": record.getMessage(),
            "@module": self.name if record.name in ("root", "wtb_plugin") else self.name + "." + record.name,
            "@timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z",
        }
        for k, v in (getattr(record, "kv", None) or {}).items():
            entry[k] = v
        if record.exc_info:
            entry["error"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(entry, default=str)


def _setup_logging(stream, name: str) -> None:
    level = {"trace": 5, "debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
             "error": logging.ERROR}.get(os.environ.get("WTB_PLUGIN_LOG_LEVEL", "").lower(), logging.INFO)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(HclogFormatter(name))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _route_uncaught_exceptions() -> None:
    """An exception nobody caught is logged as an error, in one JSON line,
    instead of a traceback the host would split into debug lines."""

    def hook(exc_type, exc, tb):
        log.error("uncaught exception: %s: %s" % (exc_type.__name__, exc), exc_info=(exc_type, exc, tb))

    def thread_hook(args):
        if args.exc_type is SystemExit:
            return
        log.error("uncaught exception in thread %s: %s: %s" % (
            args.thread.name if args.thread else "?", args.exc_type.__name__, args.exc_value),
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback))

    sys.excepthook = hook
    threading.excepthook = thread_hook
