"""wtb-runner-python-example: a WTB runner plugin written in Python.

Its nodes are Python functions run in this process: no process per node, no
JSON over pipes, and module-level state (a loaded model, an imported agent
framework) that lives as long as the plugin. A node names its function with

    node "answer" {
      kind    = "python"
      command = ["${path.root}/nodes.py", "answer"]   # file, function
    }

The function gets the document a command node reads on stdin and returns the
patch to merge into the state, so a function written for sdk/python/wtb_node.py
runs here unchanged:

    def answer(request):                  # or answer(request, ctx)
        return {"answer": "Paris"}

ctx (when the function takes a second argument) has cancelled(), wait(s),
log(line) (stored with the node run), env (the variant's environment
variables and the node's env) and working_dir. Raise wtb_node.Retryable for a
failure worth another attempt. A "_metrics" object in the result is stored as
the node's metrics, not merged. The built-in "merge" kind merges the node's
params into the state.

A function may also be a coroutine function (async def): it runs in an
event loop of its own (asyncio.run) in the node's thread.

The spans a node function makes with OpenTelemetry (its own, or an
instrumented library's) come back with its node run, under the node run's
own span, as a Go runner's nodes' do: wtb_plugin.spans collects them from the
process's tracer provider and tells each node run's apart, though they run in
threads at once. A span started in a thread the function starts belongs to
the node run when the thread is handed the context (contextvars.copy_context
or the span's context); asyncio tasks inherit it. Without the OpenTelemetry
SDK installed, nodes run the same and report no spans. A process the node
starts gets an OTLP endpoint of the node run's when it is given ctx.env
(OTEL_EXPORTER_OTLP_ENDPOINT, TRACEPARENT, ... as a Go runner's command
nodes get them): subprocess.run(cmd, env={**os.environ, **ctx.env}).

Python cannot stop a thread: when a node times out or its execution is
cancelled, the execution ends at once and the function's late result is
dropped (and its late spans); code that waits should wait on ctx.wait() so
it ends too.

`make build` writes the launcher bin/plugins/wtb-runner-python-example,
which runs this file with the Python SDK's pinned environment.
"""

import asyncio
import hashlib
import importlib.util
import inspect
import json
import os
import socket
import sys
import threading
import time
import traceback

from wtb_node import Retryable
from wtb_plugin import (CAPABILITY_CANCEL, CAPABILITY_START_STATE, Attribute, ConfigError, FailureKind, Info,
                        LogStream, Outcome, Runner, attribute_error, merge_patch, node_input, serve_runner, spans)

VERSION = "0.1.0"
WORKER_ID = "%s/%d" % (socket.gethostname(), os.getpid())


class NodeFailure(Exception):
    def __init__(self, message, kind=FailureKind.EXIT, retryable=False):
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable


class Cancelled(Exception):
    pass


class NodeContext:
    """The second argument of a node function that takes one."""

    def __init__(self, ctx, events, node, env, working_dir):
        self._ctx, self._events, self._node = ctx, events, node
        self.env = env
        self.working_dir = working_dir

    def cancelled(self):
        return self._ctx.cancelled()

    def wait(self, seconds):
        """Sleeps up to seconds; True (at once) when the execution is cancelled."""
        return self._ctx.wait(seconds)

    def log(self, line):
        self._events.log(self._node, str(line), LogStream.STDERR)


class Functions:
    """Node modules, imported once per file and kept (module-level state
    lives across node runs, as in a persistent worker)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._modules = {}

    def load(self, node):
        if len(node.command) != 2:
            raise NodeFailure('python node %r needs command = ["FILE.py", "FUNCTION"], got %r' % (
                node.name, node.command), FailureKind.START)
        path, name = node.command
        with self._lock:
            module = self._modules.get(path)
            if module is None:
                if not os.path.isfile(path):
                    raise NodeFailure("python node %r: no file %s" % (node.name, path), FailureKind.START)
                mod_name = "wtb_nodes_" + hashlib.sha256(path.encode()).hexdigest()[:12]
                spec = importlib.util.spec_from_file_location(mod_name, path)
                module = importlib.util.module_from_spec(spec)
                try:
                    spec.loader.exec_module(module)
                except Exception as e:
                    raise NodeFailure("python node %r: importing %s failed: %s: %s\n%s" % (
                        node.name, path, type(e).__name__, e, traceback.format_exc(limit=3)), FailureKind.START)
                self._modules[path] = module
        fn = getattr(module, name, None)
        if not callable(fn):
            raise NodeFailure("python node %r: %s has no function %r" % (node.name, path, name), FailureKind.START)
        return fn


def finish(node_spans, failure=""):
    """A node run's spans (None for a node that has none)."""
    return None if node_spans is None else node_spans.finish(failure)


def takes_context(fn):
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return False
    return len(params) >= 2


class PythonRunner(Runner):
    def __init__(self):
        self.functions = Functions()

    def info(self):
        return Info(
            name="python-example", version=VERSION,
            description="Runs workflow nodes as Python functions in the plugin's process (kind = \"python\").",
            capabilities=[CAPABILITY_START_STATE, CAPABILITY_CANCEL],
            attributes=[
                Attribute("max_concurrency", "number", default=8, description="Executions at once."),
                Attribute("python_path", "list(string)", default=[],
                          description="Directories added to sys.path before node modules are imported."),
            ])

    def node_kinds(self):
        return ["python", "merge"]

    def configure(self, config):
        n = config.get("max_concurrency")
        if not isinstance(n, (int, float)) or n < 1 or n != int(n):
            raise ConfigError(attribute_error("max_concurrency", "max_concurrency must be a whole number of at least 1",
                                              "got %r" % (n,)))
        for d in config.get("python_path") or []:
            if not os.path.isdir(d):
                raise ConfigError(attribute_error("python_path", "python_path names a directory that does not exist",
                                                  repr(d)))
            if d not in sys.path:
                sys.path.insert(0, d)
        return int(n)

    def execute(self, request, events, ctx):
        state = dict(request.start_state)
        started = time.monotonic()
        for i, node in enumerate(request.nodes):
            if ctx.cancelled():
                return Outcome.cancelled(ctx.cause, duration=time.monotonic() - started, worker_id=WORKER_ID)
            events.node_started(node.name, WORKER_ID)
            t0 = time.monotonic()
            # A Python node's spans: collected while its function runs,
            # reported with its result or its failure.
            node_spans = spans.start(node.name) if node.kind == "python" else None
            try:
                if node.kind == "merge":
                    output = dict(node.params)
                elif node.kind == "python":
                    output = self.call(request, i, state, events, ctx, node_spans)
                else:
                    raise NodeFailure("node kind %r is not run by this runner (it runs python, merge)" % node.kind,
                                      FailureKind.START)
                metrics = output.pop("_metrics", None) or {}
                if not isinstance(metrics, dict) or not all(isinstance(v, (int, float)) for v in metrics.values()):
                    raise NodeFailure("_metrics must be an object of numbers", FailureKind.INVALID_OUTPUT)
                new_state = merge_patch(state, output)
                events.node_finished(node.name, new_state, output, time.monotonic() - t0, metrics, WORKER_ID,
                                     spans=finish(node_spans))
                state = new_state
            except Cancelled:
                events.node_failed(node.name, ctx.cause, FailureKind.CANCELLED, duration=time.monotonic() - t0,
                                   spans=finish(node_spans, ctx.cause))
                return Outcome.cancelled(ctx.cause, failed_node=node.name, duration=time.monotonic() - started,
                                         worker_id=WORKER_ID)
            except NodeFailure as f:
                events.node_failed(node.name, str(f), f.kind, f.retryable, time.monotonic() - t0,
                                   spans=finish(node_spans, str(f)))
                return Outcome.failed(str(f), failed_node=node.name, failure_kind=f.kind, retryable=f.retryable,
                                      duration=time.monotonic() - started, worker_id=WORKER_ID)
        return Outcome.succeeded(state, duration=time.monotonic() - started, worker_id=WORKER_ID)

    def call(self, request, i, state, events, ctx, node_spans):
        """Runs node i's function in a thread of its own, so that a timeout or
        a cancel ends the node at once, under its node run's span."""
        node = request.nodes[i]
        fn = self.functions.load(node)
        doc = node_input(request, i, state)
        args = (doc,)
        if takes_context(fn):
            env = dict(request.runtime_env.env)
            env.update(node.env)
            # A process the node starts with these sends its spans to this
            # node run (the OTLP endpoint and TRACEPARENT a Go runner gives a
            # command node).
            env.update(node_spans.env())
            args = (doc, NodeContext(ctx, events, node.name, env, request.runtime_env.working_dir))
        box = {}
        done = threading.Event()

        def run():
            try:
                # The node run's span is current while the function runs
                # (its asyncio tasks inherit it): its spans are this run's.
                with node_spans.attached():
                    if inspect.iscoroutinefunction(fn):
                        box["out"] = asyncio.run(fn(*args))
                    else:
                        box["out"] = fn(*args)
            except BaseException as e:  # noqa: B036 - reported as the node's failure
                box["err"] = e
                box["tb"] = traceback.format_exc(limit=8)
            finally:
                done.set()

        threading.Thread(target=run, name="node-" + node.name, daemon=True).start()
        deadline = None if node.timeout is None else time.monotonic() + node.timeout
        while not done.wait(0.02):
            if ctx.cancelled():
                raise Cancelled()
            if deadline is not None and time.monotonic() > deadline:
                raise NodeFailure("python node %r timed out after %gs" % (node.name, node.timeout), FailureKind.TIMEOUT)
        if ctx.cancelled():
            # Whatever the function made of a cancelled run is not a result.
            raise Cancelled()
        if "err" in box:
            e = box["err"]
            if isinstance(e, Retryable):
                raise NodeFailure("retryable: %s" % e, FailureKind.EXIT, retryable=True)
            raise NodeFailure("%s: %s\n%s" % (type(e).__name__, e, box["tb"].rstrip()), FailureKind.EXIT)
        out = box.get("out")
        if out is None:
            out = {}
        if not isinstance(out, dict):
            raise NodeFailure("python node %r returned %s; a node returns a dict (merged into the state)" % (
                node.name, type(out).__name__), FailureKind.INVALID_OUTPUT)
        try:
            json.dumps(out)
        except (TypeError, ValueError) as e:
            raise NodeFailure("python node %r returned a dict that is not JSON: %s" % (node.name, e),
                              FailureKind.INVALID_OUTPUT)
        return out


if __name__ == "__main__":
    serve_runner(PythonRunner())
