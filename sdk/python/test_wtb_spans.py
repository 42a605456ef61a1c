"""Tests of wtb_plugin.spans: the spans in-process Python nodes make, each
given to its own node run (threads and asyncio tasks at once), bounded, and
converted to WTB's span form; and nothing at all without OpenTelemetry.
host/internal/e2e/python_test.go runs this file with the Python plugin
runtime (which has the "traces" extra), and a batch through the built
binaries."""

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from wtb_plugin import Spans, spans
from wtb_plugin._wire import spans_to_proto

tracer = trace.get_tracer("agent")


def tool(name, arg):
    """An execute_tool span, as the GenAI conventions name a tool call."""
    with tracer.start_as_current_span("execute_tool " + name, kind=SpanKind.INTERNAL, attributes={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
            "gen_ai.tool.call.arguments": json.dumps({"q": arg})}):
        time.sleep(0.001)


def agent(who, barrier=None):
    """A node: an agent span with two tool calls, every call interleaved
    with the other node runs' (the barrier holds them all inside)."""
    with tracer.start_as_current_span("agent " + who):
        if barrier is not None:
            barrier.wait()
        tool("search", who)
        tool("lookup", who)
    return who


class RoutingTest(unittest.TestCase):
    def check_own(self, run, got, who):
        """got holds run's spans only: the node run's span, then its agent
        span under it and two tool calls under that, all in its trace."""
        self.assertEqual(got.dropped, 0)
        names = [s.name for s in got.spans]
        self.assertEqual(names[0], run.node)
        self.assertEqual(sorted(names[1:]), sorted(["agent " + who, "execute_tool search", "execute_tool lookup"]))
        root = got.spans[0]
        self.assertEqual((root.source, root.trace_id, root.span_id, root.parent_span_id, root.scope),
                         ("wtb", run.trace_id, run.span_id, "", "wtb"))
        by_name = {s.name: s for s in got.spans}
        self.assertEqual(by_name["agent " + who].parent_span_id, run.span_id)
        for s in got.spans[1:]:
            self.assertEqual((s.trace_id, s.source, s.scope), (run.trace_id, "node", "agent"))
            if s.name.startswith("execute_tool"):
                self.assertEqual(s.parent_span_id, by_name["agent " + who].span_id)
                self.assertEqual(json.loads(s.attributes["gen_ai.tool.call.arguments"]), {"q": who})

    def test_concurrent_threads_each_get_their_own(self):
        n = 12
        barrier = threading.Barrier(n)
        runs = [spans.start("node%d" % i) for i in range(n)]
        with ThreadPoolExecutor(n) as pool:
            futures = [pool.submit(r.call, agent, "n%d" % i, barrier) for i, r in enumerate(runs)]
            self.assertEqual([f.result() for f in futures], ["n%d" % i for i in range(n)])
        for i, r in enumerate(runs):
            self.check_own(r, r.finish(), "n%d" % i)

    def test_concurrent_asyncio_tasks_each_get_their_own(self):
        async def node(run, who):
            with run.attached():
                with tracer.start_as_current_span("agent " + who):
                    await asyncio.sleep(0.01)  # every task is inside its agent span now
                    for name in ("search", "lookup"):
                        with tracer.start_as_current_span("execute_tool " + name, attributes={
                                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
                                "gen_ai.tool.call.arguments": json.dumps({"q": who})}):
                            await asyncio.sleep(0.001)

        async def main(runs):
            await asyncio.gather(*(node(r, "t%d" % i) for i, r in enumerate(runs)))

        runs = [spans.start("task%d" % i) for i in range(10)]
        asyncio.run(main(runs))
        for i, r in enumerate(runs):
            self.check_own(r, r.finish(), "t%d" % i)

    def test_a_node_function_that_is_a_coroutine_run_by_call(self):
        async def node():
            with tracer.start_as_current_span("agent a"):
                await asyncio.gather(asyncio.to_thread(lambda: None), asyncio.sleep(0))
                tool("search", "a")
                tool("lookup", "a")

        run = spans.start("async")
        run.call(asyncio.run, node())
        self.check_own(run, run.finish(), "a")

    def test_a_worker_thread_given_the_context_and_a_trace_of_the_nodes_own(self):
        def node():
            # A plain thread does not inherit the context; handed the span's
            # context it stays in the node run's trace.
            with tracer.start_as_current_span("agent w") as parent:
                ctx = trace.set_span_in_context(parent)
                th = threading.Thread(target=lambda: tracer.start_span("in a thread", context=ctx).end())
                th.start()
                th.join()
            # A trace of the node's own: still this node run's (its context
            # is current where the span starts).
            tracer.start_span("own trace", context=otel_context.Context()).end()
            # A bare thread with no context: nobody's.
            th = threading.Thread(target=lambda: tracer.start_span("orphan").end())
            th.start()
            th.join()

        run = spans.start("worker")
        run.call(node)
        got = run.finish()
        names = sorted(s.name for s in got.spans)
        self.assertEqual(names, ["agent w", "in a thread", "own trace", "worker"])
        own = next(s for s in got.spans if s.name == "own trace")
        self.assertNotEqual(own.trace_id, run.trace_id)
        self.assertEqual(own.parent_span_id, "")

    def test_spans_after_the_node_run_finished_are_nobodys(self):
        run = spans.start("late")
        open_span = run.call(lambda: tracer.start_span("left open"))
        run.call(lambda: tracer.start_span("done").end())
        got = run.finish()
        open_span.end()
        run.call(lambda: tracer.start_span("after").end())
        self.assertEqual([s.name for s in got.spans], ["late", "done"])
        self.assertEqual(run.finish(), Spans())
        # And nothing of it is left in the router.
        router = spans._the_router()
        self.assertNotIn(run, router._open.values())
        self.assertNotIn(run._trace_id, router._by_trace)

    def test_no_spans_no_root(self):
        run = spans.start("quiet")
        self.assertEqual(run.call(lambda: 42), 42)
        self.assertEqual(run.finish(), Spans())

    def test_a_failed_node_run(self):
        run = spans.start("broken")
        with self.assertRaises(ValueError):
            run.call(lambda: (tracer.start_span("step").end(), (_ for _ in ()).throw(ValueError("bad")))[0])
        got = run.finish(failure="ValueError: bad")
        self.assertEqual((got.spans[0].status, got.spans[0].status_message), ("error", "ValueError: bad"))
        self.assertEqual([s.name for s in got.spans], ["broken", "step"])


class BoundTest(unittest.TestCase):
    def test_2000_spans_per_node_run(self):
        run = spans.start("flood")

        def flood():
            for i in range(2500):
                tracer.start_span("step %d" % i).end()

        with self.assertLogs("wtb_plugin", "WARNING") as logs:
            run.call(flood)
        got = run.finish()
        self.assertEqual(len(got.spans), 2001)  # the node run's span and the first 2,000
        self.assertEqual(got.dropped, 500)
        self.assertEqual(got.spans[1].name, "step 0")
        self.assertEqual(got.spans[-1].name, "step 1999")
        self.assertEqual(len(logs.output), 1)  # said once per node run
        self.assertIn("node 'flood' is past its bound of 2000 spans or 4 MiB per node run", logs.output[0])

    def test_4_mib_per_node_run(self):
        run = spans.start("heavy")
        big = "x" * (1 << 20)
        with self.assertLogs("wtb_plugin", "WARNING"):
            run.call(lambda: [tracer.start_span("big", attributes={"blob": big}).end() for _ in range(5)])
        got = run.finish()
        self.assertEqual((len(got.spans), got.dropped), (1 + 3, 2))

    def test_the_bound_holds_under_concurrency(self):
        run = spans.start("many")

        def burst():
            for _ in range(300):
                tracer.start_span("s").end()

        def node():
            ctx = otel_context.get_current()
            threads = [threading.Thread(target=lambda: otel_context.attach(ctx) and burst()) for _ in range(10)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()

        with self.assertLogs("wtb_plugin", "WARNING"):
            run.call(node)
        got = run.finish()
        self.assertEqual((len(got.spans), got.dropped), (2001, 1000))


class ConversionTest(unittest.TestCase):
    def test_the_go_sdks_shape(self):
        run = spans.start("shape")

        def node():
            with tracer.start_as_current_span("call", kind=SpanKind.CLIENT, attributes={
                    "n": 3, "f": 1.5, "ok": True, "tags": ["a", "b"], "nan": float("nan")}) as s:
                s.add_event("retry", {"attempt": 2}, timestamp=1_700_000_000_123_400_000)
                s.add_event("plain", timestamp=1_700_000_001_000_000_000)
                s.set_status(Status(StatusCode.ERROR, "upstream said 500"))

        run.call(node)
        got = run.finish()
        s = got.spans[1]
        self.assertEqual((s.kind, s.status, s.status_message, s.service, s.scope),
                         ("client", "error", "upstream said 500", "shape", "agent"))
        self.assertEqual(s.attributes, {"n": 3, "f": 1.5, "ok": True, "tags": ["a", "b"], "nan": "nan"})
        self.assertEqual(s.events, [
            {"name": "retry", "time": "2023-11-14T22:13:20.1234Z", "attributes": {"attempt": 2}},
            {"name": "plain", "time": "2023-11-14T22:13:21Z"}])
        self.assertRegex(s.trace_id, r"^[0-9a-f]{32}$")
        self.assertRegex(s.span_id, r"^[0-9a-f]{16}$")
        self.assertLessEqual(s.start_unix_nano, s.end_unix_nano)
        self.assertEqual(run.traceparent, "00-%s-%s-01" % (run.trace_id, run.span_id))

        p = spans_to_proto(got)
        self.assertEqual(len(p.spans), 2)
        w = p.spans[1]
        self.assertEqual((w.trace_id, w.span_id, w.parent_span_id, w.kind, w.status, w.source),
                         (s.trace_id, s.span_id, run.span_id, "client", "error", "node"))
        self.assertEqual(json.loads(w.attributes_json)["tags"], ["a", "b"])
        self.assertEqual(json.loads(w.events_json)[1], {"name": "plain", "time": "2023-11-14T22:13:21Z"})
        self.assertEqual(w.start.seconds * 10**9 + w.start.nanos, s.start_unix_nano)
        self.assertEqual(p.spans[0].source, "wtb")
        self.assertEqual(json.loads(p.spans[0].attributes_json), {"wtb.node": "shape"})


def post(url, body, content_type="application/x-protobuf", encoding=None):
    import urllib.error
    import urllib.request
    headers = {"Content-Type": content_type}
    if encoding == "gzip":
        import gzip
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    req = urllib.request.Request(url, body, headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def export_request(tp, names, service="child", trace_id=None):
    """An OTLP ExportTraceServiceRequest (protobuf) with spans under the
    traceparent tp, as a process the node starts would send."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    _, tid, parent, _ = tp.split("-")
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add(key="service.name")
    kv.value.string_value = service
    ss = rs.scope_spans.add()
    ss.scope.name = "child-agent"
    for i, name in enumerate(names):
        sp = ss.spans.add(trace_id=bytes.fromhex(trace_id or tid), span_id=(i + 1).to_bytes(8, "big"),
                          parent_span_id=bytes.fromhex(parent), name=name, kind=3,
                          start_time_unix_nano=1_700_000_000_000_000_000 + i, end_time_unix_nano=1_700_000_000_500_000_000)
        a = sp.attributes.add(key="gen_ai.tool.name")
        a.value.string_value = name
        n = sp.attributes.add(key="n")
        n.value.int_value = i
        sp.events.add(name="done", time_unix_nano=1_700_000_000_250_000_000)
        sp.status.code = 2 if name == "bad" else 1
        sp.status.message = "it broke" if name == "bad" else ""
    return req.SerializeToString()


class ReceiverTest(unittest.TestCase):
    """A process a node starts sends OTLP/HTTP to the endpoint in run.env()."""

    def test_the_env_of_a_command_node(self):
        run = spans.start("cmd")
        env = run.env()
        base = env["OTEL_EXPORTER_OTLP_ENDPOINT"]
        self.assertRegex(base, r"^http://127\.0\.0\.1:\d+/otlp/[0-9a-f]{32}$")
        self.assertEqual(env, {"OTEL_EXPORTER_OTLP_ENDPOINT": base, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": base + "/v1/traces",
                               "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                               "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf", "OTEL_SERVICE_NAME": "cmd",
                               "TRACEPARENT": run.traceparent})
        self.assertEqual(run.env(), env)  # one endpoint per node run
        run.finish()

    def test_protobuf_gzip_and_json_each_to_their_own_node_run(self):
        runs = [spans.start("a"), spans.start("b")]
        urls = [r.env()["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] for r in runs]
        # A: protobuf, then gzip; B: OTLP/JSON (hex ids) in a trace of its own.
        self.assertEqual(post(urls[0], export_request(runs[0].traceparent, ["search"]))[0], 200)
        self.assertEqual(post(urls[0], export_request(runs[0].traceparent, ["bad"]), encoding="gzip")[0], 200)
        doc = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "js"}}]},
                                  "scopeSpans": [{"scope": {"name": "s"}, "spans": [{
                                      "traceId": "ab" * 16, "spanId": "cd" * 8, "name": "lookup", "kind": 1,
                                      "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000",
                                      "attributes": [{"key": "k", "value": {"intValue": "7"}}]}]}]}]}
        status, body = post(urls[1], json.dumps(doc).encode(), "application/json")
        self.assertEqual((status, json.loads(body)), (200, {}))
        # Metrics and logs are accepted and not kept.
        self.assertEqual(post(urls[1].replace("/v1/traces", "/v1/metrics"), b"")[0], 200)
        a, b = runs[0].finish(), runs[1].finish()
        self.assertEqual([s.name for s in a.spans], ["a", "search", "bad"])
        s = a.spans[1]
        self.assertEqual((s.trace_id, s.parent_span_id, s.span_id, s.kind, s.status, s.service, s.scope, s.source),
                         (runs[0].trace_id, runs[0].span_id, "0000000000000001", "client", "ok", "child", "child-agent",
                          "node"))
        self.assertEqual(s.attributes, {"gen_ai.tool.name": "search", "n": 0})
        self.assertEqual(s.events, [{"name": "done", "time": "2023-11-14T22:13:20.25Z"}])
        self.assertEqual((a.spans[2].status, a.spans[2].status_message), ("error", "it broke"))
        self.assertEqual([x.name for x in b.spans], ["b", "lookup"])
        self.assertEqual((b.spans[1].trace_id, b.spans[1].span_id, b.spans[1].parent_span_id, b.spans[1].service,
                          b.spans[1].kind, b.spans[1].attributes), ("ab" * 16, "cd" * 8, "", "js", "internal", {"k": 7}))
        # The node runs have ended: their endpoints refuse.
        status, body = post(urls[0], export_request(runs[0].traceparent, ["late"]))
        self.assertEqual(status, 404)
        self.assertIn(b"belongs to no node run", body)

    def test_the_bound_is_told_to_the_exporter(self):
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
        run = spans.start("flood", max_spans=3)
        url = run.env()["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
        with self.assertLogs("wtb_plugin", "WARNING"):
            status, body = post(url, export_request(run.traceparent, ["s%d" % i for i in range(5)]))
        resp = ExportTraceServiceResponse.FromString(body)
        self.assertEqual((status, resp.partial_success.rejected_spans), (200, 2))
        self.assertIn("past its bound of 3 spans", resp.partial_success.error_message)
        got = run.finish()
        self.assertEqual(([s.name for s in got.spans], got.dropped), (["flood", "s0", "s1", "s2"], 2))

    def test_a_bad_export_is_refused(self):
        run = spans.start("bad")
        url = run.env()["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
        self.assertEqual(post(url, b"\xff\xff not protobuf")[0], 400)
        self.assertEqual(post(url, b"{", "application/json")[0], 400)
        self.assertEqual(post(url.replace(run._token, "0" * 32), b"")[0], 404)
        self.assertEqual(run.finish(), Spans())


def run_python(code):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.abspath(__file__)), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


class ProcessTest(unittest.TestCase):
    def test_without_opentelemetry_nodes_run_as_before(self):
        # The "traces" extra not installed: importing opentelemetry fails.
        r = run_python("""
import sys
class NoOTel:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ImportError("no " + name)
sys.meta_path.insert(0, NoOTel())
from wtb_plugin import Spans, spans
assert not spans.available()
run = spans.start("n")
assert run.call(lambda x: x + 1, 1) == 2
with run.attached():
    pass
assert run.context() is None
assert run.env() == {}
assert run.finish() == Spans(), run.finish()
print("ok", run.traceparent)
""")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^ok 00-[0-9a-f]{32}-[0-9a-f]{16}-01$")

    def test_a_tracer_provider_the_plugin_set_keeps_exporting(self):
        # The plugin set its own SDK provider (to export elsewhere too): the
        # node runs' spans reach both.
        r = run_python("""
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
mine = InMemorySpanExporter()
tp = TracerProvider(resource=Resource.create({"service.name": "my-agent"}))
tp.add_span_processor(SimpleSpanProcessor(mine))
trace.set_tracer_provider(tp)
from wtb_plugin import spans
run = spans.start("n")
run.call(lambda: trace.get_tracer("x").start_span("s").end())
got = run.finish()
assert [s.name for s in got.spans] == ["n", "s"], got
assert got.spans[1].service == "my-agent", got.spans[1]
assert [s.name for s in mine.get_finished_spans()] == ["s"]
print("ok")
""")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "ok"), r.stderr)

    def test_a_provider_that_is_not_the_sdks_is_said_once(self):
        r = run_python("""
import logging
from opentelemetry import trace
logging.basicConfig()
trace.set_tracer_provider(trace.NoOpTracerProvider())
from wtb_plugin import Spans, spans
for _ in range(2):
    run = spans.start("n")
    run.call(lambda: trace.get_tracer("x").start_span("s").end())
    assert run.finish() == Spans()
""")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.count("not the OpenTelemetry SDK's TracerProvider"), 1, r.stderr)


if __name__ == "__main__":
    unittest.main()
