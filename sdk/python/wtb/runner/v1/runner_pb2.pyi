import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from wtb.modelcall.v1 import modelcall_pb2 as _modelcall_pb2
from wtb.trace.v1 import trace_pb2 as _trace_pb2
from wtb.plugin.v1 import plugin_pb2 as _plugin_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MetricType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METRIC_TYPE_UNSPECIFIED: _ClassVar[MetricType]
    METRIC_TYPE_COUNTER: _ClassVar[MetricType]
    METRIC_TYPE_GAUGE: _ClassVar[MetricType]

class FailureKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FAILURE_KIND_UNSPECIFIED: _ClassVar[FailureKind]
    FAILURE_KIND_EXIT: _ClassVar[FailureKind]
    FAILURE_KIND_INVALID_OUTPUT: _ClassVar[FailureKind]
    FAILURE_KIND_OUTPUT_TOO_LARGE: _ClassVar[FailureKind]
    FAILURE_KIND_TIMEOUT: _ClassVar[FailureKind]
    FAILURE_KIND_CANCELLED: _ClassVar[FailureKind]
    FAILURE_KIND_START: _ClassVar[FailureKind]
    FAILURE_KIND_INFRASTRUCTURE: _ClassVar[FailureKind]
    FAILURE_KIND_REPLAY_MISS: _ClassVar[FailureKind]
    FAILURE_KIND_BUDGET: _ClassVar[FailureKind]

class LogStream(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOG_STREAM_UNSPECIFIED: _ClassVar[LogStream]
    LOG_STREAM_STDERR: _ClassVar[LogStream]
    LOG_STREAM_RUNNER: _ClassVar[LogStream]

class ExecutionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXECUTION_STATUS_UNSPECIFIED: _ClassVar[ExecutionStatus]
    EXECUTION_STATUS_SUCCEEDED: _ClassVar[ExecutionStatus]
    EXECUTION_STATUS_FAILED: _ClassVar[ExecutionStatus]
    EXECUTION_STATUS_CANCELLED: _ClassVar[ExecutionStatus]
METRIC_TYPE_UNSPECIFIED: MetricType
METRIC_TYPE_COUNTER: MetricType
METRIC_TYPE_GAUGE: MetricType
FAILURE_KIND_UNSPECIFIED: FailureKind
FAILURE_KIND_EXIT: FailureKind
FAILURE_KIND_INVALID_OUTPUT: FailureKind
FAILURE_KIND_OUTPUT_TOO_LARGE: FailureKind
FAILURE_KIND_TIMEOUT: FailureKind
FAILURE_KIND_CANCELLED: FailureKind
FAILURE_KIND_START: FailureKind
FAILURE_KIND_INFRASTRUCTURE: FailureKind
FAILURE_KIND_REPLAY_MISS: FailureKind
FAILURE_KIND_BUDGET: FailureKind
LOG_STREAM_UNSPECIFIED: LogStream
LOG_STREAM_STDERR: LogStream
LOG_STREAM_RUNNER: LogStream
EXECUTION_STATUS_UNSPECIFIED: ExecutionStatus
EXECUTION_STATUS_SUCCEEDED: ExecutionStatus
EXECUTION_STATUS_FAILED: ExecutionStatus
EXECUTION_STATUS_CANCELLED: ExecutionStatus

class GetMetricsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetMetricsResponse(_message.Message):
    __slots__ = ("metrics",)
    METRICS_FIELD_NUMBER: _ClassVar[int]
    metrics: _containers.RepeatedCompositeFieldContainer[Metric]
    def __init__(self, metrics: _Optional[_Iterable[_Union[Metric, _Mapping]]] = ...) -> None: ...

class Metric(_message.Message):
    __slots__ = ("name", "help", "type", "labels", "value")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    HELP_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    help: str
    type: MetricType
    labels: _containers.ScalarMap[str, str]
    value: float
    def __init__(self, name: _Optional[str] = ..., help: _Optional[str] = ..., type: _Optional[_Union[MetricType, str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., value: _Optional[float] = ...) -> None: ...

class GetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetInfoResponse(_message.Message):
    __slots__ = ("info", "node_kinds")
    INFO_FIELD_NUMBER: _ClassVar[int]
    NODE_KINDS_FIELD_NUMBER: _ClassVar[int]
    info: _plugin_pb2.PluginInfo
    node_kinds: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, info: _Optional[_Union[_plugin_pb2.PluginInfo, _Mapping]] = ..., node_kinds: _Optional[_Iterable[str]] = ...) -> None: ...

class ConfigureRequest(_message.Message):
    __slots__ = ("config_json", "host_version")
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    HOST_VERSION_FIELD_NUMBER: _ClassVar[int]
    config_json: bytes
    host_version: str
    def __init__(self, config_json: _Optional[bytes] = ..., host_version: _Optional[str] = ...) -> None: ...

class ConfigureResponse(_message.Message):
    __slots__ = ("diagnostics", "max_concurrency")
    DIAGNOSTICS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    diagnostics: _containers.RepeatedCompositeFieldContainer[_plugin_pb2.Diagnostic]
    max_concurrency: int
    def __init__(self, diagnostics: _Optional[_Iterable[_Union[_plugin_pb2.Diagnostic, _Mapping]]] = ..., max_concurrency: _Optional[int] = ...) -> None: ...

class SessionRequest(_message.Message):
    __slots__ = ("executions", "cancels")
    EXECUTIONS_FIELD_NUMBER: _ClassVar[int]
    CANCELS_FIELD_NUMBER: _ClassVar[int]
    executions: _containers.RepeatedCompositeFieldContainer[ExecuteRequest]
    cancels: _containers.RepeatedCompositeFieldContainer[CancelRequest]
    def __init__(self, executions: _Optional[_Iterable[_Union[ExecuteRequest, _Mapping]]] = ..., cancels: _Optional[_Iterable[_Union[CancelRequest, _Mapping]]] = ...) -> None: ...

class SessionResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...

class ShutdownRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ShutdownResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Node(_message.Message):
    __slots__ = ("name", "kind", "command", "params_json", "env", "timeout", "variant", "depends_on", "max_output_bytes", "config_hash", "worker", "run_key")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    PARAMS_JSON_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    DEPENDS_ON_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    CONFIG_HASH_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    RUN_KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    command: _containers.RepeatedScalarFieldContainer[str]
    params_json: bytes
    env: _containers.ScalarMap[str, str]
    timeout: _duration_pb2.Duration
    variant: str
    depends_on: _containers.RepeatedScalarFieldContainer[str]
    max_output_bytes: int
    config_hash: str
    worker: WorkerSpec
    run_key: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., command: _Optional[_Iterable[str]] = ..., params_json: _Optional[bytes] = ..., env: _Optional[_Mapping[str, str]] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., variant: _Optional[str] = ..., depends_on: _Optional[_Iterable[str]] = ..., max_output_bytes: _Optional[int] = ..., config_hash: _Optional[str] = ..., worker: _Optional[_Union[WorkerSpec, _Mapping]] = ..., run_key: _Optional[str] = ...) -> None: ...

class WorkerSpec(_message.Message):
    __slots__ = ("max", "max_requests", "idle_timeout")
    MAX_FIELD_NUMBER: _ClassVar[int]
    MAX_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    max: int
    max_requests: int
    idle_timeout: _duration_pb2.Duration
    def __init__(self, max: _Optional[int] = ..., max_requests: _Optional[int] = ..., idle_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class Case(_message.Message):
    __slots__ = ("id", "input_json", "expected_json")
    ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_JSON_FIELD_NUMBER: _ClassVar[int]
    id: str
    input_json: bytes
    expected_json: bytes
    def __init__(self, id: _Optional[str] = ..., input_json: _Optional[bytes] = ..., expected_json: _Optional[bytes] = ...) -> None: ...

class ExecuteRequest(_message.Message):
    __slots__ = ("execution_id", "execution_key", "attempt", "batch_id", "combination", "variants", "case", "repeat_index", "nodes", "start_state_json", "start_checkpoint_id", "runtime_env", "deadline", "labels", "model_calls", "recordings")
    class VariantsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_KEY_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    COMBINATION_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    CASE_FIELD_NUMBER: _ClassVar[int]
    REPEAT_INDEX_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    START_STATE_JSON_FIELD_NUMBER: _ClassVar[int]
    START_CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_ENV_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    MODEL_CALLS_FIELD_NUMBER: _ClassVar[int]
    RECORDINGS_FIELD_NUMBER: _ClassVar[int]
    execution_id: str
    execution_key: str
    attempt: int
    batch_id: str
    combination: str
    variants: _containers.ScalarMap[str, str]
    case: Case
    repeat_index: int
    nodes: _containers.RepeatedCompositeFieldContainer[Node]
    start_state_json: bytes
    start_checkpoint_id: str
    runtime_env: _plugin_pb2.RuntimeEnv
    deadline: _timestamp_pb2.Timestamp
    labels: _containers.ScalarMap[str, str]
    model_calls: _modelcall_pb2.Config
    recordings: _containers.RepeatedCompositeFieldContainer[_modelcall_pb2.Recordings]
    def __init__(self, execution_id: _Optional[str] = ..., execution_key: _Optional[str] = ..., attempt: _Optional[int] = ..., batch_id: _Optional[str] = ..., combination: _Optional[str] = ..., variants: _Optional[_Mapping[str, str]] = ..., case: _Optional[_Union[Case, _Mapping]] = ..., repeat_index: _Optional[int] = ..., nodes: _Optional[_Iterable[_Union[Node, _Mapping]]] = ..., start_state_json: _Optional[bytes] = ..., start_checkpoint_id: _Optional[str] = ..., runtime_env: _Optional[_Union[_plugin_pb2.RuntimeEnv, _Mapping]] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., labels: _Optional[_Mapping[str, str]] = ..., model_calls: _Optional[_Union[_modelcall_pb2.Config, _Mapping]] = ..., recordings: _Optional[_Iterable[_Union[_modelcall_pb2.Recordings, _Mapping]]] = ...) -> None: ...

class CancelRequest(_message.Message):
    __slots__ = ("execution_id", "reason")
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    execution_id: str
    reason: str
    def __init__(self, execution_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("execution_id", "seq", "time", "node_started", "node_finished", "node_failed", "log", "execution_finished")
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    NODE_STARTED_FIELD_NUMBER: _ClassVar[int]
    NODE_FINISHED_FIELD_NUMBER: _ClassVar[int]
    NODE_FAILED_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_FINISHED_FIELD_NUMBER: _ClassVar[int]
    execution_id: str
    seq: int
    time: _timestamp_pb2.Timestamp
    node_started: NodeStarted
    node_finished: NodeFinished
    node_failed: NodeFailed
    log: LogLine
    execution_finished: ExecutionFinished
    def __init__(self, execution_id: _Optional[str] = ..., seq: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., node_started: _Optional[_Union[NodeStarted, _Mapping]] = ..., node_finished: _Optional[_Union[NodeFinished, _Mapping]] = ..., node_failed: _Optional[_Union[NodeFailed, _Mapping]] = ..., log: _Optional[_Union[LogLine, _Mapping]] = ..., execution_finished: _Optional[_Union[ExecutionFinished, _Mapping]] = ...) -> None: ...

class NodeStarted(_message.Message):
    __slots__ = ("node", "worker_id")
    NODE_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    node: str
    worker_id: str
    def __init__(self, node: _Optional[str] = ..., worker_id: _Optional[str] = ...) -> None: ...

class NodeFinished(_message.Message):
    __slots__ = ("node", "state_json", "output_json", "duration", "metrics", "worker_id", "interactions", "spans")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NODE_FIELD_NUMBER: _ClassVar[int]
    STATE_JSON_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    SPANS_FIELD_NUMBER: _ClassVar[int]
    node: str
    state_json: bytes
    output_json: bytes
    duration: _duration_pb2.Duration
    metrics: _containers.ScalarMap[str, float]
    worker_id: str
    interactions: _containers.RepeatedCompositeFieldContainer[_modelcall_pb2.Interaction]
    spans: _trace_pb2.Spans
    def __init__(self, node: _Optional[str] = ..., state_json: _Optional[bytes] = ..., output_json: _Optional[bytes] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., metrics: _Optional[_Mapping[str, float]] = ..., worker_id: _Optional[str] = ..., interactions: _Optional[_Iterable[_Union[_modelcall_pb2.Interaction, _Mapping]]] = ..., spans: _Optional[_Union[_trace_pb2.Spans, _Mapping]] = ...) -> None: ...

class NodeFailed(_message.Message):
    __slots__ = ("node", "error", "kind", "retryable", "duration", "exit_code", "interactions", "spans")
    NODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    SPANS_FIELD_NUMBER: _ClassVar[int]
    node: str
    error: str
    kind: FailureKind
    retryable: bool
    duration: _duration_pb2.Duration
    exit_code: int
    interactions: _containers.RepeatedCompositeFieldContainer[_modelcall_pb2.Interaction]
    spans: _trace_pb2.Spans
    def __init__(self, node: _Optional[str] = ..., error: _Optional[str] = ..., kind: _Optional[_Union[FailureKind, str]] = ..., retryable: _Optional[bool] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., exit_code: _Optional[int] = ..., interactions: _Optional[_Iterable[_Union[_modelcall_pb2.Interaction, _Mapping]]] = ..., spans: _Optional[_Union[_trace_pb2.Spans, _Mapping]] = ...) -> None: ...

class LogLine(_message.Message):
    __slots__ = ("node", "stream", "line")
    NODE_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    node: str
    stream: LogStream
    line: str
    def __init__(self, node: _Optional[str] = ..., stream: _Optional[_Union[LogStream, str]] = ..., line: _Optional[str] = ...) -> None: ...

class ExecutionFinished(_message.Message):
    __slots__ = ("status", "final_state_json", "error", "retryable", "duration", "worker_id", "failed_node", "failure_kind")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FINAL_STATE_JSON_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    FAILED_NODE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_KIND_FIELD_NUMBER: _ClassVar[int]
    status: ExecutionStatus
    final_state_json: bytes
    error: str
    retryable: bool
    duration: _duration_pb2.Duration
    worker_id: str
    failed_node: str
    failure_kind: FailureKind
    def __init__(self, status: _Optional[_Union[ExecutionStatus, str]] = ..., final_state_json: _Optional[bytes] = ..., error: _Optional[str] = ..., retryable: _Optional[bool] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., worker_id: _Optional[str] = ..., failed_node: _Optional[str] = ..., failure_kind: _Optional[_Union[FailureKind, str]] = ...) -> None: ...
