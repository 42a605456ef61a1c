import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from wtb.modelcall.v1 import modelcall_pb2 as _modelcall_pb2
from wtb.trace.v1 import trace_pb2 as _trace_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetInfoResponse(_message.Message):
    __slots__ = ("name", "version", "node_kinds", "max_concurrency")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NODE_KINDS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    node_kinds: _containers.RepeatedScalarFieldContainer[str]
    max_concurrency: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., node_kinds: _Optional[_Iterable[str]] = ..., max_concurrency: _Optional[int] = ...) -> None: ...

class Node(_message.Message):
    __slots__ = ("name", "kind", "command", "params_json", "env", "timeout", "variant", "max_output_bytes", "config_hash", "worker", "run_key")
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
    max_output_bytes: int
    config_hash: str
    worker: WorkerSpec
    run_key: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., command: _Optional[_Iterable[str]] = ..., params_json: _Optional[bytes] = ..., env: _Optional[_Mapping[str, str]] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., variant: _Optional[str] = ..., max_output_bytes: _Optional[int] = ..., config_hash: _Optional[str] = ..., worker: _Optional[_Union[WorkerSpec, _Mapping]] = ..., run_key: _Optional[str] = ...) -> None: ...

class WorkerSpec(_message.Message):
    __slots__ = ("max", "max_requests", "idle_timeout")
    MAX_FIELD_NUMBER: _ClassVar[int]
    MAX_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    max: int
    max_requests: int
    idle_timeout: _duration_pb2.Duration
    def __init__(self, max: _Optional[int] = ..., max_requests: _Optional[int] = ..., idle_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class Environment(_message.Message):
    __slots__ = ("id", "env", "working_dir")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    WORKING_DIR_FIELD_NUMBER: _ClassVar[int]
    id: str
    env: _containers.ScalarMap[str, str]
    working_dir: str
    def __init__(self, id: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., working_dir: _Optional[str] = ...) -> None: ...

class ExecuteSegmentRequest(_message.Message):
    __slots__ = ("idempotency_key", "batch_id", "execution_key", "attempt", "combination", "variants", "case_id", "case_input_json", "case_expected_json", "repeat_index", "nodes", "start_state_json", "environment", "model_calls", "recordings")
    class VariantsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_KEY_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    COMBINATION_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    CASE_INPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    CASE_EXPECTED_JSON_FIELD_NUMBER: _ClassVar[int]
    REPEAT_INDEX_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    START_STATE_JSON_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    MODEL_CALLS_FIELD_NUMBER: _ClassVar[int]
    RECORDINGS_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    batch_id: str
    execution_key: str
    attempt: int
    combination: str
    variants: _containers.ScalarMap[str, str]
    case_id: str
    case_input_json: bytes
    case_expected_json: bytes
    repeat_index: int
    nodes: _containers.RepeatedCompositeFieldContainer[Node]
    start_state_json: bytes
    environment: Environment
    model_calls: _modelcall_pb2.Config
    recordings: _containers.RepeatedCompositeFieldContainer[_modelcall_pb2.Recordings]
    def __init__(self, idempotency_key: _Optional[str] = ..., batch_id: _Optional[str] = ..., execution_key: _Optional[str] = ..., attempt: _Optional[int] = ..., combination: _Optional[str] = ..., variants: _Optional[_Mapping[str, str]] = ..., case_id: _Optional[str] = ..., case_input_json: _Optional[bytes] = ..., case_expected_json: _Optional[bytes] = ..., repeat_index: _Optional[int] = ..., nodes: _Optional[_Iterable[_Union[Node, _Mapping]]] = ..., start_state_json: _Optional[bytes] = ..., environment: _Optional[_Union[Environment, _Mapping]] = ..., model_calls: _Optional[_Union[_modelcall_pb2.Config, _Mapping]] = ..., recordings: _Optional[_Iterable[_Union[_modelcall_pb2.Recordings, _Mapping]]] = ...) -> None: ...

class ExecuteSegmentResponse(_message.Message):
    __slots__ = ("seq", "node_started", "node_finished", "node_failed", "log", "segment_finished")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    NODE_STARTED_FIELD_NUMBER: _ClassVar[int]
    NODE_FINISHED_FIELD_NUMBER: _ClassVar[int]
    NODE_FAILED_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FINISHED_FIELD_NUMBER: _ClassVar[int]
    seq: int
    node_started: NodeStarted
    node_finished: NodeFinished
    node_failed: NodeFailed
    log: LogLine
    segment_finished: SegmentFinished
    def __init__(self, seq: _Optional[int] = ..., node_started: _Optional[_Union[NodeStarted, _Mapping]] = ..., node_finished: _Optional[_Union[NodeFinished, _Mapping]] = ..., node_failed: _Optional[_Union[NodeFailed, _Mapping]] = ..., log: _Optional[_Union[LogLine, _Mapping]] = ..., segment_finished: _Optional[_Union[SegmentFinished, _Mapping]] = ...) -> None: ...

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
    __slots__ = ("node", "error", "kind", "retryable", "exit_code", "interactions", "spans")
    NODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    SPANS_FIELD_NUMBER: _ClassVar[int]
    node: str
    error: str
    kind: str
    retryable: bool
    exit_code: int
    interactions: _containers.RepeatedCompositeFieldContainer[_modelcall_pb2.Interaction]
    spans: _trace_pb2.Spans
    def __init__(self, node: _Optional[str] = ..., error: _Optional[str] = ..., kind: _Optional[str] = ..., retryable: _Optional[bool] = ..., exit_code: _Optional[int] = ..., interactions: _Optional[_Iterable[_Union[_modelcall_pb2.Interaction, _Mapping]]] = ..., spans: _Optional[_Union[_trace_pb2.Spans, _Mapping]] = ...) -> None: ...

class LogLine(_message.Message):
    __slots__ = ("node", "line")
    NODE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    node: str
    line: str
    def __init__(self, node: _Optional[str] = ..., line: _Optional[str] = ...) -> None: ...

class SegmentFinished(_message.Message):
    __slots__ = ("succeeded", "final_state_json", "error", "failed_node", "failure_kind", "retryable", "worker_id")
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    FINAL_STATE_JSON_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FAILED_NODE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_KIND_FIELD_NUMBER: _ClassVar[int]
    RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    succeeded: bool
    final_state_json: bytes
    error: str
    failed_node: str
    failure_kind: str
    retryable: bool
    worker_id: str
    def __init__(self, succeeded: _Optional[bool] = ..., final_state_json: _Optional[bytes] = ..., error: _Optional[str] = ..., failed_node: _Optional[str] = ..., failure_kind: _Optional[str] = ..., retryable: _Optional[bool] = ..., worker_id: _Optional[str] = ...) -> None: ...

class CreateEnvironmentRequest(_message.Message):
    __slots__ = ("batch_id", "variant_id", "config_json")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    VARIANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    variant_id: str
    config_json: bytes
    def __init__(self, batch_id: _Optional[str] = ..., variant_id: _Optional[str] = ..., config_json: _Optional[bytes] = ...) -> None: ...

class CreateEnvironmentResponse(_message.Message):
    __slots__ = ("environment",)
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    environment: Environment
    def __init__(self, environment: _Optional[_Union[Environment, _Mapping]] = ...) -> None: ...

class GetEnvironmentRequest(_message.Message):
    __slots__ = ("environment_id",)
    ENVIRONMENT_ID_FIELD_NUMBER: _ClassVar[int]
    environment_id: str
    def __init__(self, environment_id: _Optional[str] = ...) -> None: ...

class GetEnvironmentResponse(_message.Message):
    __slots__ = ("environment", "found")
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    environment: Environment
    found: bool
    def __init__(self, environment: _Optional[_Union[Environment, _Mapping]] = ..., found: _Optional[bool] = ...) -> None: ...

class CleanupEnvironmentRequest(_message.Message):
    __slots__ = ("environment_id",)
    ENVIRONMENT_ID_FIELD_NUMBER: _ClassVar[int]
    environment_id: str
    def __init__(self, environment_id: _Optional[str] = ...) -> None: ...

class CleanupEnvironmentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
