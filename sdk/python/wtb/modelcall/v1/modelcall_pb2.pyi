import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Config(_message.Message):
    __slots__ = ("mode", "upstreams", "proxy", "other_hosts", "ignore_json_paths", "match_headers", "redact_headers", "mask_env", "pace", "max_recording_bytes", "budget")
    MODE_FIELD_NUMBER: _ClassVar[int]
    UPSTREAMS_FIELD_NUMBER: _ClassVar[int]
    PROXY_FIELD_NUMBER: _ClassVar[int]
    OTHER_HOSTS_FIELD_NUMBER: _ClassVar[int]
    IGNORE_JSON_PATHS_FIELD_NUMBER: _ClassVar[int]
    MATCH_HEADERS_FIELD_NUMBER: _ClassVar[int]
    REDACT_HEADERS_FIELD_NUMBER: _ClassVar[int]
    MASK_ENV_FIELD_NUMBER: _ClassVar[int]
    PACE_FIELD_NUMBER: _ClassVar[int]
    MAX_RECORDING_BYTES_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    mode: str
    upstreams: _containers.RepeatedCompositeFieldContainer[Upstream]
    proxy: bool
    other_hosts: str
    ignore_json_paths: _containers.RepeatedScalarFieldContainer[str]
    match_headers: _containers.RepeatedScalarFieldContainer[str]
    redact_headers: _containers.RepeatedScalarFieldContainer[str]
    mask_env: _containers.RepeatedScalarFieldContainer[str]
    pace: str
    max_recording_bytes: int
    budget: Budget
    def __init__(self, mode: _Optional[str] = ..., upstreams: _Optional[_Iterable[_Union[Upstream, _Mapping]]] = ..., proxy: _Optional[bool] = ..., other_hosts: _Optional[str] = ..., ignore_json_paths: _Optional[_Iterable[str]] = ..., match_headers: _Optional[_Iterable[str]] = ..., redact_headers: _Optional[_Iterable[str]] = ..., mask_env: _Optional[_Iterable[str]] = ..., pace: _Optional[str] = ..., max_recording_bytes: _Optional[int] = ..., budget: _Optional[_Union[Budget, _Mapping]] = ...) -> None: ...

class Budget(_message.Message):
    __slots__ = ("tokens", "usd", "spent_tokens", "spent_usd", "prices")
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    USD_FIELD_NUMBER: _ClassVar[int]
    SPENT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SPENT_USD_FIELD_NUMBER: _ClassVar[int]
    PRICES_FIELD_NUMBER: _ClassVar[int]
    tokens: int
    usd: float
    spent_tokens: int
    spent_usd: float
    prices: _containers.RepeatedCompositeFieldContainer[Price]
    def __init__(self, tokens: _Optional[int] = ..., usd: _Optional[float] = ..., spent_tokens: _Optional[int] = ..., spent_usd: _Optional[float] = ..., prices: _Optional[_Iterable[_Union[Price, _Mapping]]] = ...) -> None: ...

class Price(_message.Message):
    __slots__ = ("model", "input", "output", "cache_read", "cache_write", "reasoning", "date", "tiers")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_FIELD_NUMBER: _ClassVar[int]
    REASONING_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    model: str
    input: float
    output: float
    cache_read: float
    cache_write: float
    reasoning: float
    date: str
    tiers: _containers.RepeatedCompositeFieldContainer[PriceTier]
    def __init__(self, model: _Optional[str] = ..., input: _Optional[float] = ..., output: _Optional[float] = ..., cache_read: _Optional[float] = ..., cache_write: _Optional[float] = ..., reasoning: _Optional[float] = ..., date: _Optional[str] = ..., tiers: _Optional[_Iterable[_Union[PriceTier, _Mapping]]] = ...) -> None: ...

class PriceTier(_message.Message):
    __slots__ = ("above", "input", "output", "cache_read", "cache_write", "reasoning")
    ABOVE_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_FIELD_NUMBER: _ClassVar[int]
    REASONING_FIELD_NUMBER: _ClassVar[int]
    above: int
    input: float
    output: float
    cache_read: float
    cache_write: float
    reasoning: float
    def __init__(self, above: _Optional[int] = ..., input: _Optional[float] = ..., output: _Optional[float] = ..., cache_read: _Optional[float] = ..., cache_write: _Optional[float] = ..., reasoning: _Optional[float] = ...) -> None: ...

class Upstream(_message.Message):
    __slots__ = ("name", "url", "base_url_env", "api_key_env", "ca_pem", "timeout", "limits")
    NAME_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_ENV_FIELD_NUMBER: _ClassVar[int]
    API_KEY_ENV_FIELD_NUMBER: _ClassVar[int]
    CA_PEM_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    name: str
    url: str
    base_url_env: str
    api_key_env: str
    ca_pem: bytes
    timeout: _duration_pb2.Duration
    limits: Limits
    def __init__(self, name: _Optional[str] = ..., url: _Optional[str] = ..., base_url_env: _Optional[str] = ..., api_key_env: _Optional[str] = ..., ca_pem: _Optional[bytes] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_concurrency", "requests_per_minute", "tokens_per_minute", "retries", "max_retry_wait")
    MAX_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    MAX_RETRY_WAIT_FIELD_NUMBER: _ClassVar[int]
    max_concurrency: int
    requests_per_minute: float
    tokens_per_minute: int
    retries: int
    max_retry_wait: _duration_pb2.Duration
    def __init__(self, max_concurrency: _Optional[int] = ..., requests_per_minute: _Optional[float] = ..., tokens_per_minute: _Optional[int] = ..., retries: _Optional[int] = ..., max_retry_wait: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class Recordings(_message.Message):
    __slots__ = ("run_key", "interactions", "nearest", "origin")
    RUN_KEY_FIELD_NUMBER: _ClassVar[int]
    INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    NEAREST_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    run_key: str
    interactions: _containers.RepeatedCompositeFieldContainer[Interaction]
    nearest: _containers.RepeatedCompositeFieldContainer[Interaction]
    origin: str
    def __init__(self, run_key: _Optional[str] = ..., interactions: _Optional[_Iterable[_Union[Interaction, _Mapping]]] = ..., nearest: _Optional[_Iterable[_Union[Interaction, _Mapping]]] = ..., origin: _Optional[str] = ...) -> None: ...

class Interaction(_message.Message):
    __slots__ = ("ordinal", "upstream", "method", "path", "query", "request_headers", "request_body", "status", "response_headers", "response_body", "chunks", "streamed", "source", "started", "duration", "first_byte", "error", "match_key", "model", "usage", "attempts", "queue_time")
    class RequestHeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ResponseHeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ORDINAL_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_HEADERS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_BODY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_HEADERS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_BODY_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    STREAMED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    FIRST_BYTE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    MATCH_KEY_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_TIME_FIELD_NUMBER: _ClassVar[int]
    ordinal: int
    upstream: str
    method: str
    path: str
    query: str
    request_headers: _containers.ScalarMap[str, str]
    request_body: bytes
    status: int
    response_headers: _containers.ScalarMap[str, str]
    response_body: bytes
    chunks: _containers.RepeatedCompositeFieldContainer[Chunk]
    streamed: bool
    source: str
    started: _timestamp_pb2.Timestamp
    duration: _duration_pb2.Duration
    first_byte: _duration_pb2.Duration
    error: str
    match_key: str
    model: str
    usage: Usage
    attempts: int
    queue_time: _duration_pb2.Duration
    def __init__(self, ordinal: _Optional[int] = ..., upstream: _Optional[str] = ..., method: _Optional[str] = ..., path: _Optional[str] = ..., query: _Optional[str] = ..., request_headers: _Optional[_Mapping[str, str]] = ..., request_body: _Optional[bytes] = ..., status: _Optional[int] = ..., response_headers: _Optional[_Mapping[str, str]] = ..., response_body: _Optional[bytes] = ..., chunks: _Optional[_Iterable[_Union[Chunk, _Mapping]]] = ..., streamed: _Optional[bool] = ..., source: _Optional[str] = ..., started: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., first_byte: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., error: _Optional[str] = ..., match_key: _Optional[str] = ..., model: _Optional[str] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., attempts: _Optional[int] = ..., queue_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "reported")
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REPORTED_FIELD_NUMBER: _ClassVar[int]
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    reported: bool
    def __init__(self, input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cache_read_tokens: _Optional[int] = ..., cache_write_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ..., reported: _Optional[bool] = ...) -> None: ...

class Chunk(_message.Message):
    __slots__ = ("data", "offset")
    DATA_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    offset: _duration_pb2.Duration
    def __init__(self, data: _Optional[bytes] = ..., offset: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...
