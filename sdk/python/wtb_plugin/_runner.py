"""wtb.runner.v1.RunnerService over a wtb_plugin.Runner."""

import logging
import queue
import threading
import time
import traceback

import grpc
from google.protobuf import timestamp_pb2

from wtb.plugin.v1 import plugin_pb2
from wtb.runner.v1 import runner_pb2, runner_pb2_grpc

from . import _wire
from . import types as t

log = logging.getLogger("wtb_plugin")

# Batching of events sent back to the host, as the Go SDK: under load many
# events travel in one message; when idle an event goes out at once.
MAX_EVENTS_PER_MESSAGE = 512
MAX_BYTES_PER_MESSAGE = 4 << 20

# How long a shutdown waits for running executions to report after cancelling
# them (Python cannot stop a thread; an execution that ignores its context is
# left behind, and the process exits without it).
STOP_WAIT_SECONDS = 1.5


class RunnerServicer(runner_pb2_grpc.RunnerServiceServicer):
    def __init__(self, impl: t.Runner):
        self.impl = impl
        self._lock = threading.Lock()
        self._running = {}  # execution id -> (Context, Thread)
        self._shut_down = False

    # -- unary calls ---------------------------------------------------------

    def GetInfo(self, request, context):
        info = _wire.info_to_proto(self.impl.info(), plugin_pb2.PLUGIN_KIND_RUNNER)
        return runner_pb2.GetInfoResponse(info=info, node_kinds=list(self.impl.node_kinds()))

    def Configure(self, request, context):
        try:
            config = _wire.loads_object(request.config_json, "the configuration")
            capacity = self.impl.configure(config)
        except t.ConfigError as e:
            return runner_pb2.ConfigureResponse(diagnostics=_wire.diagnostics_to_proto(e.diagnostics))
        except Exception as e:
            # Bad configuration is a diagnostic, never an RPC error; say where
            # the plugin broke.
            log.error("configure raised", exc_info=True)
            d = t.Diagnostic(summary="the plugin failed to configure itself: %s: %s" % (type(e).__name__, e))
            return runner_pb2.ConfigureResponse(diagnostics=_wire.diagnostics_to_proto([d]))
        connect = getattr(self.impl, "connect", None)
        if callable(connect):
            try:
                connect()
            except Exception as e:
                # A system the runner depends on is unreachable: a runtime
                # problem, reported as such (the host exits 3, not 2).
                context.abort(grpc.StatusCode.UNAVAILABLE, str(e))
        return runner_pb2.ConfigureResponse(max_concurrency=int(capacity or 0))

    def GetMetrics(self, request, context):
        return runner_pb2.GetMetricsResponse(metrics=_wire.metrics_to_proto(self.impl.metrics() or []))

    def Shutdown(self, request, context):
        self.shutdown("runner shut down by the host")
        return runner_pb2.ShutdownResponse()

    def shutdown(self, cause: str) -> None:
        """Cancels what runs and shuts the runner down, once: the host's
        Shutdown call and the plugin's own stop both come here."""
        self.stop(cause)
        with self._lock:
            if self._shut_down:
                return
            self._shut_down = True
        self.impl.shutdown()

    def stop(self, cause: str) -> None:
        """Cancels every execution and waits a little for them to report."""
        with self._lock:
            running = list(self._running.values())
        for ctx, _ in running:
            ctx.cancel(cause)
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        for _, thread in running:
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- the session ---------------------------------------------------------

    def Session(self, request_iterator, context):
        """Executions and cancels come in; events go out. When the host closes
        its side, what runs finishes and the stream ends; when the stream
        breaks, what it started is cancelled."""
        out = queue.Queue()
        session = _Session(self, out)
        context.add_callback(lambda: session.cancel_all("the wtb host is gone: its session with the plugin ended"))
        reader = threading.Thread(target=session.read, args=(request_iterator,), name="wtb-session-recv", daemon=True)
        reader.start()
        while True:
            try:
                first = out.get(timeout=0.25)
            except queue.Empty:
                if session.done() or not context.is_active():
                    return
                continue
            batch, size = [first], _approx_size(first)
            while len(batch) < MAX_EVENTS_PER_MESSAGE and size < MAX_BYTES_PER_MESSAGE:
                try:
                    ev = out.get_nowait()
                except queue.Empty:
                    break
                batch.append(ev)
                size += _approx_size(ev)
            yield runner_pb2.SessionResponse(events=batch)


class _Session:
    def __init__(self, servicer: RunnerServicer, out: queue.Queue):
        self.servicer = servicer
        self.out = out
        self.lock = threading.Lock()
        self.running = {}  # execution id -> Context
        self.reading = True

    def read(self, request_iterator):
        try:
            for req in request_iterator:
                with self.lock:
                    for c in req.cancels:
                        ctx = self.running.get(c.execution_id)
                        if ctx is not None:
                            ctx.cancel("cancelled by the host: %s" % c.reason)
                for pr in req.executions:
                    self.start(pr)
        except Exception as e:
            self.cancel_all("the wtb host is gone: session with the host broke: %s" % e)
        finally:
            with self.lock:
                self.reading = False

    def start(self, pr):
        sink = _EventSink(pr.execution_id, self.out)
        try:
            req = _wire.execute_request_from_proto(pr)
        except Exception as e:
            sink.finish(t.Outcome.failed("the execution request could not be read: %s" % e,
                                         failure_kind=t.FailureKind.INFRASTRUCTURE))
            return
        ctx = t.Context(req.deadline)
        thread = threading.Thread(target=self.run, args=(req, sink, ctx), name="wtb-exec-" + req.execution_id,
                                  daemon=True)
        with self.lock:
            self.running[req.execution_id] = ctx
        with self.servicer._lock:
            self.servicer._running[req.execution_id] = (ctx, thread)
        thread.start()

    def run(self, req, sink, ctx):
        try:
            outcome = self.servicer.impl.execute(req, sink, ctx)
            if not isinstance(outcome, t.Outcome):
                outcome = t.Outcome.failed("the runner returned %r instead of an Outcome" % (outcome,),
                                           failure_kind=t.FailureKind.INFRASTRUCTURE)
        except Exception as e:
            # One broken execution must not take the plugin down.
            log.error("runner raised", exc_info=True, extra={"kv": {"execution": req.execution_id}})
            outcome = t.Outcome.failed("runner raised %s: %s" % (type(e).__name__, e),
                                       failure_kind=t.FailureKind.INFRASTRUCTURE,
                                       retryable=False)
            outcome.error += "\n" + traceback.format_exc(limit=5).rstrip()
        try:
            sink.finish(outcome)
        finally:
            with self.lock:
                self.running.pop(req.execution_id, None)
            with self.servicer._lock:
                self.servicer._running.pop(req.execution_id, None)

    def cancel_all(self, cause: str) -> None:
        with self.lock:
            running = list(self.running.values())
        for ctx in running:
            ctx.cancel(cause)

    def done(self) -> bool:
        with self.lock:
            return not self.reading and not self.running and self.out.empty()


def _approx_size(ev) -> int:
    which = ev.WhichOneof("payload")
    if which == "node_finished":
        return 64 + len(ev.node_finished.state_json) + len(ev.node_finished.output_json) + \
            _spans_size(ev.node_finished)
    if which == "node_failed":
        return 64 + len(ev.node_failed.error) + _spans_size(ev.node_failed)
    if which == "execution_finished":
        return 64 + len(ev.execution_finished.final_state_json)
    if which == "log":
        return 64 + len(ev.log.line)
    return 64


def _spans_size(m) -> int:
    # A node run's spans may weigh megabytes: counted so a message stays
    # under MAX_BYTES_PER_MESSAGE.
    if not m.HasField("spans"):
        return 0
    return sum(160 + len(s.name) + len(s.attributes_json) + len(s.events_json) for s in m.spans.spans)


class _EventSink(t.Events):
    """Numbers one execution's events and queues them for the session."""

    def __init__(self, execution_id: str, out: queue.Queue):
        self.id = execution_id
        self.out = out
        self.lock = threading.Lock()
        self.seq = 0
        self.finished = False
        self.last_state = None  # JSON of the last NodeFinished's state

    def _emit(self, **payload):
        with self.lock:
            if self.finished:
                return
            self.seq += 1
            ts = timestamp_pb2.Timestamp()
            ts.GetCurrentTime()
            self.out.put(runner_pb2.Event(execution_id=self.id, seq=self.seq, time=ts, **payload))

    def node_started(self, node, worker_id=""):
        self._emit(node_started=runner_pb2.NodeStarted(node=node, worker_id=worker_id))

    def node_finished(self, node, state, output, duration, metrics=None, worker_id="", spans=None):
        state_json = _wire.dumps(state)
        with self.lock:
            self.last_state = state_json
        self._emit(node_finished=_wire.node_finished(node, state_json, output, duration, metrics, worker_id, spans))

    def node_failed(self, node, error, kind=t.FailureKind.EXIT, retryable=False, duration=0.0, exit_code=0,
                    spans=None):
        self._emit(node_failed=_wire.node_failed(node, error, kind, retryable, duration, exit_code, spans))

    def log(self, node, line, stream=t.LogStream.RUNNER):
        self._emit(log=runner_pb2.LogLine(node=node, stream=int(stream), line=line))

    def finish(self, o: t.Outcome) -> None:
        if o.status == t.Status.UNSPECIFIED:
            o.status = t.Status.FAILED
            o.error = o.error or "runner returned no outcome"
        final = b"" if o.final_state is None else _wire.dumps(o.final_state)
        with self.lock:
            if final == self.last_state:
                # The host has it from the last NodeFinished: a large state
                # crosses the wire once.
                final = b""
            self.last_state = None
        self._emit(execution_finished=_wire.outcome_to_proto(o, final))
        with self.lock:
            self.finished = True

