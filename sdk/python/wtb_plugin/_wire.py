"""Conversions between the author's types (wtb_plugin.types) and the
generated protobuf messages (sdk/python/wtb/...). Nothing else touches them."""

import json
from datetime import timezone

from wtb.plugin.v1 import plugin_pb2
from wtb.runner.v1 import runner_pb2
from wtb.trace.v1 import trace_pb2

from . import types as t


def dumps(value) -> bytes:
    """Compact JSON, as the Go side writes it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def loads_object(raw: bytes, what: str) -> dict:
    """A JSON object from the wire; empty means {}."""
    if not raw:
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("%s is not a JSON object" % what)
    return value


def info_to_proto(info: t.Info, kind: int) -> plugin_pb2.PluginInfo:
    attrs = []
    for a in info.attributes:
        if not a.name or not a.type:
            raise ValueError("schema attribute %r needs a name and a type" % (a,))
        attrs.append(plugin_pb2.AttributeSchema(
            name=a.name, type=a.type, required=a.required, description=a.description,
            default_json=b"" if a.default is None else dumps(a.default), sensitive=a.sensitive))
    return plugin_pb2.PluginInfo(
        name=info.name, kind=kind, version=info.version, sdk_version="python-" + t.SDK_VERSION,
        protocol_versions=[t.PROTOCOL_VERSION], capabilities=list(info.capabilities),
        description=info.description, config_schema=plugin_pb2.ConfigSchema(attributes=attrs))


def diagnostics_to_proto(diags):
    return [plugin_pb2.Diagnostic(severity=int(d.severity), summary=d.summary, detail=d.detail,
                                  attribute_path=list(d.path)) for d in diags]


def runtime_env_to_proto(env: t.RuntimeEnv) -> plugin_pb2.RuntimeEnv:
    return plugin_pb2.RuntimeEnv(id=env.id, env=dict(env.env), working_dir=env.working_dir, labels=dict(env.labels))


def runtime_env_from_proto(p: plugin_pb2.RuntimeEnv) -> t.RuntimeEnv:
    return t.RuntimeEnv(id=p.id, env=dict(p.env), working_dir=p.working_dir, labels=dict(p.labels))


def _seconds(d) -> float:
    return d.seconds + d.nanos / 1e9


def _set_duration(d, seconds: float) -> None:
    seconds = max(0.0, float(seconds or 0))
    d.seconds = int(seconds)
    d.nanos = int(round((seconds - int(seconds)) * 1e9)) % 1_000_000_000


def node_from_proto(p: runner_pb2.Node) -> t.Node:
    return t.Node(
        name=p.name, kind=p.kind or "command", command=list(p.command),
        params=loads_object(p.params_json, "node %s params" % p.name), env=dict(p.env),
        timeout=_seconds(p.timeout) if p.HasField("timeout") and _seconds(p.timeout) > 0 else None,
        variant=p.variant, depends_on=list(p.depends_on), max_output_bytes=p.max_output_bytes,
        config_hash=p.config_hash, run_key=p.run_key)


def execute_request_from_proto(p: runner_pb2.ExecuteRequest) -> t.ExecuteRequest:
    expected = json.loads(p.case.expected_json) if p.case.expected_json else None
    deadline = None
    if p.HasField("deadline"):
        deadline = p.deadline.ToDatetime(tzinfo=timezone.utc)
    return t.ExecuteRequest(
        execution_id=p.execution_id, execution_key=p.execution_key, attempt=p.attempt, batch_id=p.batch_id,
        combination=p.combination, variants=dict(p.variants),
        case=t.Case(id=p.case.id, input=loads_object(p.case.input_json, "case input"), expected=expected),
        repeat_index=p.repeat_index, nodes=[node_from_proto(n) for n in p.nodes],
        start_state=loads_object(p.start_state_json, "start state"), start_checkpoint_id=p.start_checkpoint_id,
        runtime_env=runtime_env_from_proto(p.runtime_env), deadline=deadline, labels=dict(p.labels))


def node_finished(node, state_json: bytes, output, duration, metrics, worker_id, spans=None) -> runner_pb2.NodeFinished:
    m = runner_pb2.NodeFinished(node=node, state_json=state_json, output_json=dumps(output),
                                metrics={k: float(v) for k, v in (metrics or {}).items()}, worker_id=worker_id)
    _set_duration(m.duration, duration)
    _set_spans(m, spans)
    return m


def node_failed(node, error, kind, retryable, duration, exit_code, spans=None) -> runner_pb2.NodeFailed:
    m = runner_pb2.NodeFailed(node=node, error=error, kind=int(kind), retryable=retryable, exit_code=exit_code)
    _set_duration(m.duration, duration)
    _set_spans(m, spans)
    return m


def _set_spans(m, spans) -> None:
    """Sets a NodeFinished's or NodeFailed's spans; none and nothing dropped
    leaves the field unset, as the Go SDK does."""
    if spans is None or (not spans.spans and not spans.dropped):
        return
    m.spans.CopyFrom(spans_to_proto(spans))


def _set_timestamp(ts, unix_nano: int) -> None:
    unix_nano = int(unix_nano or 0)
    ts.seconds, ts.nanos = unix_nano // 1_000_000_000, unix_nano % 1_000_000_000


def spans_to_proto(spans: t.Spans) -> trace_pb2.Spans:
    out = trace_pb2.Spans(dropped=int(spans.dropped))
    for s in spans.spans:
        p = out.spans.add(trace_id=s.trace_id, span_id=s.span_id, parent_span_id=s.parent_span_id, name=s.name,
                          kind=s.kind, status=s.status or "unset", status_message=s.status_message,
                          attributes_json=dumps(s.attributes) if s.attributes else b"",
                          events_json=dumps(s.events) if s.events else b"", service=s.service, scope=s.scope,
                          source=s.source)
        _set_timestamp(p.start, s.start_unix_nano)
        _set_timestamp(p.end, s.end_unix_nano)
    return out


def outcome_to_proto(o: t.Outcome, final_state_json: bytes) -> runner_pb2.ExecutionFinished:
    m = runner_pb2.ExecutionFinished(status=int(o.status), final_state_json=final_state_json, error=o.error,
                                     retryable=o.retryable, worker_id=o.worker_id, failed_node=o.failed_node,
                                     failure_kind=int(o.failure_kind))
    _set_duration(m.duration, o.duration)
    return m


def metrics_to_proto(metrics):
    return [runner_pb2.Metric(name=m.name, help=m.help, type=int(m.type), labels=dict(m.labels), value=float(m.value))
            for m in metrics]
