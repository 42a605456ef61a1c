"""The plugin author's vocabulary: plain Python types, no protobuf.

They mirror the Go SDK's types (github.com/wtbench/wtb/sdk) and the contract in
proto/wtb/*/v1; wtb_plugin converts them to and from the wire.
"""

import enum
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, List, Optional

# The major version of the plugin contract (the "v1" in wtb.runner.v1), which
# go-plugin negotiates at start-up.
PROTOCOL_VERSION = 1

# This package's version, reported in every plugin's info as "python-VERSION".
SDK_VERSION = "0.1.0"

# go-plugin's magic cookie, set by the host in the plugin's environment. Not a
# security measure: it tells somebody who runs a plugin by hand what it is.
MAGIC_COOKIE_KEY = "WTB_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "7c2f4f0b1e9a4f7fb3f0d2a8e5c6b1d4-wtb"

# Largest gRPC message in either direction, as the Go SDK: node states of
# several MiB pass; a runaway plugin stays bounded.
MAX_MESSAGE_BYTES = 256 << 20

# Capabilities a runner may announce in Info.capabilities.
CAPABILITY_START_STATE = "start_state"  # honours ExecuteRequest.start_state
CAPABILITY_CANCEL = "cancel"  # stops an execution promptly when cancelled


class Severity(enum.IntEnum):
    ERROR = 1
    WARNING = 2


class Status(enum.IntEnum):
    """How an execution ended (wtb.runner.v1.ExecutionStatus)."""

    UNSPECIFIED = 0
    SUCCEEDED = 1
    FAILED = 2
    CANCELLED = 3


class FailureKind(enum.IntEnum):
    """Why a node or an execution failed (wtb.runner.v1.FailureKind)."""

    UNSPECIFIED = 0
    EXIT = 1  # the node's code failed
    INVALID_OUTPUT = 2  # it returned something that is not a JSON object
    OUTPUT_TOO_LARGE = 3
    TIMEOUT = 4
    CANCELLED = 5
    START = 6  # the node could not be started: missing function, bad kind, ...
    INFRASTRUCTURE = 7  # the runner itself failed; the host retries
    REPLAY_MISS = 8
    BUDGET = 9  # the execution's model calls cost more than its budget (set by the host)


class LogStream(enum.IntEnum):
    UNSPECIFIED = 0
    STDERR = 1  # what the node wrote
    RUNNER = 2  # what the runner says about the node


class MetricType(enum.IntEnum):
    UNSPECIFIED = 0
    COUNTER = 1
    GAUGE = 2


@dataclass
class Attribute:
    """One attribute of the plugin's HCL block. The host checks names, types
    and required attributes against these before anything runs, at the
    attribute's file:line:col; configure() then only checks meaning."""

    name: str
    # An HCL type expression: "string", "number", "bool", "list(string)",
    # "map(string)", "any", ...
    type: str
    required: bool = False
    description: str = ""
    # Used when the block leaves the attribute out (JSON-encodable); None: null.
    default: Any = None
    # Never printed or logged by the host.
    sensitive: bool = False


@dataclass
class Info:
    """What the plugin says about itself (`wtb plugins`, `wtb plugins describe`)."""

    name: str  # short name: "mine" for wtb-runner-mine or wtb-env-mine
    version: str
    description: str = ""
    capabilities: List[str] = field(default_factory=list)
    attributes: List[Attribute] = field(default_factory=list)


@dataclass
class Diagnostic:
    """A problem with the configuration. path names the attribute
    (["max_workers"]); the host shows its place in the bench file."""

    summary: str
    detail: str = ""
    path: List[str] = field(default_factory=list)
    severity: Severity = Severity.ERROR

    def __str__(self):
        s = ".".join(self.path) + ": " if self.path else ""
        s += self.summary
        if self.detail:
            s += ": " + self.detail
        return s


def attribute_error(attribute: str, summary: str, detail: str = "") -> Diagnostic:
    """An error about one attribute of the plugin's block."""
    return Diagnostic(summary=summary, detail=detail, path=[attribute])


class ConfigError(Exception):
    """Raise from configure() or create_environment() to reject a
    configuration; the host prints each diagnostic at its attribute."""

    def __init__(self, *diagnostics: Diagnostic):
        if not diagnostics:
            raise ValueError("ConfigError needs at least one Diagnostic")
        self.diagnostics = list(diagnostics)
        super().__init__("; ".join(str(d) for d in diagnostics))


@dataclass
class RuntimeEnv:
    """Where and how a variant's nodes run (made by an environment provider,
    handed to the runner with every execution)."""

    id: str = ""
    env: Dict[str, str] = field(default_factory=dict)
    working_dir: str = ""
    labels: Dict[str, str] = field(default_factory=dict)


@dataclass
class Node:
    """One workflow node to run, after the chosen variant's overrides."""

    name: str
    kind: str = "command"
    command: List[str] = field(default_factory=list)
    params: Dict[str, Any] = field(default_factory=dict)
    env: Dict[str, str] = field(default_factory=dict)
    timeout: Optional[float] = None  # seconds; None: no node timeout
    variant: str = ""
    depends_on: List[str] = field(default_factory=list)
    max_output_bytes: int = 0  # 0: the runner's default
    config_hash: str = ""
    # The node run's identity, the same in every batch (case, repeat, this
    # node's and earlier nodes' configuration).
    run_key: str = ""


@dataclass
class Case:
    id: str
    input: Dict[str, Any] = field(default_factory=dict)
    expected: Any = None


@dataclass
class ExecuteRequest:
    """One execution segment: run `nodes` in order from `start_state`."""

    execution_id: str  # unique per attempt
    execution_key: str  # stable across attempts and resumes
    attempt: int
    batch_id: str
    combination: str  # e.g. "answer=terse,retrieve=bm25"
    variants: Dict[str, str]  # node name -> variant name
    case: Case
    repeat_index: int
    nodes: List[Node]
    # The case input for a fresh execution, or a stored checkpoint's state
    # (resume, fork, shared prefixes).
    start_state: Dict[str, Any]
    start_checkpoint_id: str = ""
    runtime_env: RuntimeEnv = field(default_factory=RuntimeEnv)
    deadline: Optional[datetime] = None  # the host cancels the execution then
    labels: Dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    """How an execution ended; returned by Runner.execute."""

    status: Status
    final_state: Optional[Dict[str, Any]] = None  # the state after the last node
    error: str = ""
    retryable: bool = False
    duration: float = 0.0  # seconds
    worker_id: str = ""
    failed_node: str = ""
    failure_kind: FailureKind = FailureKind.UNSPECIFIED

    @classmethod
    def succeeded(cls, final_state, **kw):
        return cls(Status.SUCCEEDED, final_state=final_state, **kw)

    @classmethod
    def failed(cls, error, failed_node="", failure_kind=FailureKind.EXIT, retryable=False, **kw):
        return cls(Status.FAILED, error=error, failed_node=failed_node, failure_kind=failure_kind, retryable=retryable, **kw)

    @classmethod
    def cancelled(cls, error="cancelled", **kw):
        return cls(Status.CANCELLED, error=error, failure_kind=FailureKind.CANCELLED, **kw)


@dataclass
class Metric:
    """One sample the runner reports (host /metrics, labelled plugin=NAME)."""

    name: str  # a Prometheus name, e.g. "wtb_mine_calls_total"
    value: float
    help: str = ""
    type: MetricType = MetricType.GAUGE
    labels: Dict[str, str] = field(default_factory=dict)


# Where a span came from (Span.source), as the Go SDK's sdk.SpanSource*.
SPAN_SOURCE_NODE = "node"  # made by the node's own instrumentation
SPAN_SOURCE_WTB = "wtb"  # the node run's own span, the parent of the node's root spans

# The bound on what one node run keeps, as the Go executor's OTLP receiver:
# past either, spans are dropped and counted (Spans.dropped).
MAX_SPANS_PER_NODE_RUN = 2000
MAX_SPAN_BYTES_PER_NODE_RUN = 4 << 20


@dataclass
class Span:
    """One span of a node run, in the compact form WTB stores (the Go SDK's
    sdk.Span; wtb.trace.v1.Span on the wire)."""

    trace_id: str  # 32 lower-case hex digits, as in a traceparent
    span_id: str  # 16 lower-case hex digits
    name: str
    start_unix_nano: int
    end_unix_nano: int
    parent_span_id: str = ""  # "" for a root span
    kind: str = ""  # internal, server, client, producer, consumer or ""
    status: str = "unset"  # unset, ok or error
    status_message: str = ""
    # JSON-encodable values: strings, numbers, booleans and lists of them.
    attributes: Dict[str, Any] = field(default_factory=dict)
    # Each {"name", "time" (RFC 3339, UTC), "attributes" (optional)}.
    events: List[Dict[str, Any]] = field(default_factory=list)
    service: str = ""  # the resource's service.name
    scope: str = ""  # the instrumentation scope's name
    source: str = SPAN_SOURCE_NODE


@dataclass
class Spans:
    """A node run's spans and how many past its bound were dropped; pass it
    to Events.node_finished or node_failed (wtb_plugin.spans collects it)."""

    spans: List[Span] = field(default_factory=list)
    dropped: int = 0


class Context:
    """An execution's cancellation and deadline, passed to Runner.execute.

    Cancellation comes from the host (a cancel, a timeout, `wtb cancel`), from
    a shutdown, or from the host going away; `cause` says which. Code that
    waits should wait on the context, not sleep: `ctx.wait(5)` returns True
    as soon as the execution is cancelled.
    """

    def __init__(self, deadline: Optional[datetime] = None):
        self._done = threading.Event()
        self._lock = threading.Lock()
        self.cause = ""
        self.deadline = deadline

    def cancel(self, cause: str) -> None:
        with self._lock:
            if self._done.is_set():
                return
            self.cause = cause
            self._done.set()

    def cancelled(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Waits until cancelled or timeout seconds; True when cancelled."""
        return self._done.wait(timeout)

    def remaining(self) -> Optional[float]:
        """Seconds until the host's deadline, or None without one."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline.timestamp() - time.time())


class Events:
    """What a runner reports while it executes (Runner.execute's `events`).
    Report node_started, then node_finished or node_failed for each node, in
    order; the SDK numbers the events and sends the outcome last."""

    def node_started(self, node: str, worker_id: str = "") -> None:
        raise NotImplementedError

    def node_finished(self, node: str, state: Dict[str, Any], output: Dict[str, Any], duration: float,
                      metrics: Optional[Dict[str, float]] = None, worker_id: str = "",
                      spans: Optional[Spans] = None) -> None:
        """state is the full state after the node (its checkpoint); output what
        the node returned (the patch merged into the state); spans the node
        run's spans (wtb_plugin.spans collects them), stored with it."""
        raise NotImplementedError

    def node_failed(self, node: str, error: str, kind: FailureKind = FailureKind.EXIT, retryable: bool = False,
                    duration: float = 0.0, exit_code: int = 0, spans: Optional[Spans] = None) -> None:
        """spans are the node run's spans up to its failure."""
        raise NotImplementedError

    def log(self, node: str, line: str, stream: LogStream = LogStream.RUNNER) -> None:
        """A log line stored with the node run (`wtb show` prints them)."""
        raise NotImplementedError


class Runner:
    """A runner plugin: subclass it and pass an instance to serve_runner().

    execute() is called from many threads at once (at most the capacity
    configure() returned); it must return soon after ctx is cancelled.
    """

    def info(self) -> Info:
        raise NotImplementedError

    def node_kinds(self) -> List[str]:
        """The node kinds this runner executes (checked by `wtb validate`)."""
        raise NotImplementedError

    def configure(self, config: Dict[str, Any]) -> int:
        """Validates and applies the plugin's block (a dict with the schema's
        defaults filled in); returns how many executions may run at once (0:
        unbounded). Raise ConfigError to reject it."""
        raise NotImplementedError

    def execute(self, request: ExecuteRequest, events: Events, ctx: Context) -> Outcome:
        raise NotImplementedError

    def shutdown(self) -> None:
        """Releases resources; running executions have been cancelled."""

    def metrics(self) -> List[Metric]:
        """The runner's own figures, if it keeps any."""
        return []


class EnvironmentProvider:
    """An environment provider plugin: subclass it and pass an instance to
    serve_environment()."""

    def info(self) -> Info:
        raise NotImplementedError

    def configure(self, config: Dict[str, Any]) -> None:
        """Validates and applies the plugin's block (the base environment).
        Raise ConfigError to reject it."""
        raise NotImplementedError

    def create_environment(self, batch_id: str, variant_id: str, config: Dict[str, Any]) -> RuntimeEnv:
        """Prepares a variant's environment; config holds the variant's
        settings, to merge over the base. Called again for the same variant,
        it returns the same environment. Raise ConfigError for bad settings."""
        raise NotImplementedError

    def runtime_env(self, variant_id: str) -> Optional[RuntimeEnv]:
        """The environment created for variant_id, or None."""
        raise NotImplementedError

    def cleanup_environment(self, variant_id: str) -> None:
        """Removes what create_environment made; unknown ids are fine."""
        raise NotImplementedError

    def shutdown(self) -> None:
        """Releases resources."""


def merge_patch(target: Any, patch: Any) -> Any:
    """JSON Merge Patch (RFC 7386), how WTB merges a node's output into the
    state: objects merge, null deletes, anything else replaces. Returns a new
    value; target is not changed."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def node_input(request: ExecuteRequest, index: int, state: Dict[str, Any]) -> Dict[str, Any]:
    """The document node request.nodes[index] receives, as a command node
    gets it on stdin (and a wtb_node function as its argument):
    {state, params, case: {id, input}, node, variant, execution: {key,
    repeat, variants}}. Everything in it identifies the node run; the case's
    expected values, the attempt and later nodes' variants are left out on
    purpose, because prefix sharing and the node cache serve one run to
    every execution with the same identity."""
    node = request.nodes[index]
    later = {n.name for n in request.nodes[index + 1:]}
    variants = {n: v for n, v in request.variants.items() if v and n not in later}
    return {
        "state": state,
        "params": node.params,
        "case": {"id": request.case.id, "input": request.case.input},
        "node": node.name,
        "variant": node.variant,
        "execution": {"key": run_key(request.case.id, request.repeat_index, variants),
                      "repeat": request.repeat_index, "variants": variants},
    }


def run_key(case_id: str, repeat: int, variants: Dict[str, str]) -> str:
    """"case/repeat/node=variant,..." in node-name order, as the Go SDK."""
    key = "%s/%d" % (case_id, repeat)
    if variants:
        key += "/" + ",".join("%s=%s" % (n, variants[n]) for n in sorted(variants))
    return key
