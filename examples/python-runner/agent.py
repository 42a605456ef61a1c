"""A tool-using agent as a node of wtb-runner-python-example, for
examples/python-runner/agent.hcl: a scripted planner (standing in for a
model) picks tools, the node runs them, and every step is an OpenTelemetry
span following the GenAI semantic conventions — a `chat` span per planner
turn and an `execute_tool` span per tool call (gen_ai.tool.name,
gen_ai.tool.call.arguments). The runner sends them back with the node run, so
`wtb show` lists the tool calls and the trajectory evaluators score them.

Nothing here exports anything or knows about WTB: the node uses the global
tracer, as an agent framework's instrumentation does. Without OpenTelemetry
installed it still answers (and its runs have no spans).
"""

import contextlib
import json
import re
import time

try:
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    tracer = trace.get_tracer("examples.python-runner.agent")
except ImportError:
    tracer = None

MODEL = "scripted-planner"

FACTS = {
    "capital france": "Paris is the capital and largest city of France.",
    "capital germany": "Berlin is the capital of Germany and its most populous city.",
    "capital australia": "Canberra is the capital city of Australia.",
    "longest river africa": "The Nile is the longest river in Africa.",
    "highest mountain africa": "Kilimanjaro is the highest mountain in Africa.",
}
STOP = {"what", "which", "is", "the", "of", "in", "a", "city"}
ARITHMETIC = re.compile(r"(-?\d+(?:\.\d+)?)\s*([-+*/])\s*(-?\d+(?:\.\d+)?)")


@contextlib.contextmanager
def span(name, attributes, kind=None):
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(name, kind=kind or SpanKind.INTERNAL, attributes=attributes) as s:
        yield s


def search(query):
    words = {w for w in re.findall(r"[a-z0-9]+", query.lower()) if w not in STOP}
    best = max(FACTS, key=lambda k: len(words & set(k.split())))
    return FACTS[best] if words & set(best.split()) else ""


def calculator(expression):
    m = ARITHMETIC.search(expression)
    if not m:
        raise ValueError("no arithmetic in %r" % expression)
    a, op, b = float(m.group(1)), m.group(2), float(m.group(3))
    v = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else float("nan")}[op]
    return str(int(v)) if v == int(v) else str(v)


TOOLS = {"search": search, "calculator": calculator}


def plan(question, policy):
    """The planner's turn: which tools to call, with which arguments.
    "planned" picks the one tool the question needs; "eager" searches first
    whatever the question, then calculates when there are numbers."""
    arithmetic = ARITHMETIC.search(question)
    calls = []
    if policy == "eager" or not arithmetic:
        calls.append(("search", {"query": question}))
    if arithmetic:
        calls.append(("calculator", {"expression": arithmetic.group(0)}))
    return calls


def call_tool(name, arguments, ctx):
    with span("execute_tool " + name, {
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name, "gen_ai.tool.type": "function",
            "gen_ai.tool.call.arguments": json.dumps(arguments, sort_keys=True)}) as s:
        # A tool takes a moment (an API, a database): node runs overlap.
        ctx.wait(0.02)
        try:
            result = TOOLS[name](**arguments)
        except Exception as e:
            if s is not None:
                s.set_status(Status(StatusCode.ERROR, str(e)))
            raise
        if s is not None:
            s.set_attribute("gen_ai.tool.call.result", result)
        return result


def agent(request, ctx):
    """params {policy: "planned" | "eager"} -> {answer}; the tools it called
    are in its spans, not its output."""
    question = request["state"].get("question")
    if not question:
        raise ValueError("the state has no question")
    policy = request["params"].get("policy", "planned")
    with span("agent qa", {"wtb.example.policy": policy}):
        t0 = time.time()
        with span("chat " + MODEL, {"gen_ai.operation.name": "chat", "gen_ai.request.model": MODEL,
                                    "gen_ai.response.model": MODEL}, SpanKind.CLIENT if tracer else None) as s:
            calls = plan(question, policy)
            if s is not None:
                s.set_attribute("gen_ai.response.finish_reasons", ["tool_calls"])
        results = [call_tool(name, args, ctx) for name, args in calls]
        last = results[-1] if results else ""
        if calls and calls[-1][0] == "search":
            subject = last.split(" is ", 1)[0]
            last = subject[4:] if subject.startswith("The ") else subject
        return {"answer": last, "_metrics": {"agent_ms": (time.time() - t0) * 1e3}}
