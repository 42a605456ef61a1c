"""Write a WTB plugin in Python: a runner or an environment provider.

    from wtb_plugin import Runner, Info, Outcome, serve_runner

    class MyRunner(Runner):
        def info(self): return Info(name="mine", version="0.1.0")
        def node_kinds(self): return ["mine"]
        def configure(self, config): return 4
        def execute(self, request, events, ctx): ...
    if __name__ == "__main__":
        serve_runner(MyRunner())

serve_runner and serve_environment speak go-plugin's protocol (handshake,
AutoMTLS, health service, controller, stdio) and WTB's versioned gRPC
contract; the plugin author sees only the types in wtb_plugin.types. A
runner that runs node code in its own process reports that code's
OpenTelemetry spans with wtb_plugin.spans. The README's "Writing a plugin in
Python" section walks through a whole plugin.
"""

import logging as _logging
import os as _os

from .types import (
    CAPABILITY_CANCEL,
    CAPABILITY_START_STATE,
    MAGIC_COOKIE_KEY,
    MAGIC_COOKIE_VALUE,
    MAX_SPAN_BYTES_PER_NODE_RUN,
    MAX_SPANS_PER_NODE_RUN,
    PROTOCOL_VERSION,
    SDK_VERSION,
    Attribute,
    Case,
    ConfigError,
    Context,
    Diagnostic,
    EnvironmentProvider,
    Events,
    ExecuteRequest,
    FailureKind,
    Info,
    LogStream,
    Metric,
    MetricType,
    Node,
    Outcome,
    Runner,
    RuntimeEnv,
    Severity,
    Span,
    Spans,
    Status,
    attribute_error,
    merge_patch,
    node_input,
    run_key,
)

__all__ = [
    "serve_runner", "serve_environment", "Runner", "EnvironmentProvider", "Info", "Attribute", "Diagnostic",
    "ConfigError", "attribute_error", "ExecuteRequest", "Node", "Case", "RuntimeEnv", "Events", "Context",
    "Outcome", "Status", "FailureKind", "LogStream", "Metric", "MetricType", "Severity", "merge_patch", "node_input", "run_key",
    "CAPABILITY_START_STATE", "CAPABILITY_CANCEL", "PROTOCOL_VERSION", "SDK_VERSION", "MAGIC_COOKIE_KEY",
    "MAGIC_COOKIE_VALUE", "Span", "Spans", "MAX_SPANS_PER_NODE_RUN", "MAX_SPAN_BYTES_PER_NODE_RUN",
]


def serve_runner(runner: Runner) -> None:
    """Serves a runner plugin until the host is done with it, then exits the
    process. Call it from the plugin's main; do nothing on stdout before."""
    from . import _runner, _serve
    from wtb.runner.v1 import runner_pb2_grpc

    servicer = _runner.RunnerServicer(runner)
    _serve.serve("runner", lambda s: runner_pb2_grpc.add_RunnerServiceServicer_to_server(servicer, s),
                 servicer.shutdown, "runner-" + runner.info().name)


def serve_environment(provider: EnvironmentProvider) -> None:
    """Serves an environment provider plugin until the host is done with it,
    then exits the process."""
    from . import _environment, _serve
    from wtb.environment.v1 import environment_pb2_grpc

    servicer = _environment.EnvironmentServicer(provider)
    _serve.serve("environment",
                 lambda s: environment_pb2_grpc.add_EnvironmentProviderServiceServicer_to_server(servicer, s),
                 lambda cause: servicer.shutdown(), "env-" + provider.info().name)


_logging.getLogger("wtb_plugin").addHandler(_logging.NullHandler())

if _os.environ.get(MAGIC_COOKIE_KEY) == MAGIC_COOKIE_VALUE:
    # Started by the host: from here on nothing reaches stdout before the
    # handshake line (import wtb_plugin before anything that may print).
    from ._serve import protect_stdout as _protect_stdout

    _protect_stdout()
