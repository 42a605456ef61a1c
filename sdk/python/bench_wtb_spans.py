"""What wtb_plugin.spans costs a node run, in microseconds (scripts/bench.sh
runs it with the Python plugin runtime): a node run that makes no span, and
one whose function makes 10 spans with attributes, beside the same 10 spans
made outside any node run (the OpenTelemetry SDK's own cost). Best of three
rounds of 3,000."""

import time

from opentelemetry import trace

from wtb_plugin import spans

tracer = trace.get_tracer("bench")


def ten_spans():
    for _ in range(10):
        with tracer.start_as_current_span("execute_tool x", attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "x"}):
            pass


def node_run(fn):
    def run():
        r = spans.start("n")
        r.call(fn)
        r.finish()
    return run


def bench(label, fn, n=3000):
    for _ in range(200):
        fn()
    best = None
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = (time.perf_counter() - t0) / n
        best = dt if best is None else min(best, dt)
    print("%-52s %8.1f µs" % (label, best * 1e6))


if __name__ == "__main__":
    bench("10 spans outside any node run (OpenTelemetry alone)", ten_spans)
    bench("a node run that makes no span", node_run(lambda: None))
    bench("a node run that makes 10 spans", node_run(ten_spans))
