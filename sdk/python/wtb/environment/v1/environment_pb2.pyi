from wtb.plugin.v1 import plugin_pb2 as _plugin_pb2
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
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: _plugin_pb2.PluginInfo
    def __init__(self, info: _Optional[_Union[_plugin_pb2.PluginInfo, _Mapping]] = ...) -> None: ...

class ConfigureRequest(_message.Message):
    __slots__ = ("config_json", "host_version")
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    HOST_VERSION_FIELD_NUMBER: _ClassVar[int]
    config_json: bytes
    host_version: str
    def __init__(self, config_json: _Optional[bytes] = ..., host_version: _Optional[str] = ...) -> None: ...

class ConfigureResponse(_message.Message):
    __slots__ = ("diagnostics",)
    DIAGNOSTICS_FIELD_NUMBER: _ClassVar[int]
    diagnostics: _containers.RepeatedCompositeFieldContainer[_plugin_pb2.Diagnostic]
    def __init__(self, diagnostics: _Optional[_Iterable[_Union[_plugin_pb2.Diagnostic, _Mapping]]] = ...) -> None: ...

class CreateEnvironmentRequest(_message.Message):
    __slots__ = ("variant_id", "config_json", "batch_id")
    VARIANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    variant_id: str
    config_json: bytes
    batch_id: str
    def __init__(self, variant_id: _Optional[str] = ..., config_json: _Optional[bytes] = ..., batch_id: _Optional[str] = ...) -> None: ...

class CreateEnvironmentResponse(_message.Message):
    __slots__ = ("runtime_env", "diagnostics")
    RUNTIME_ENV_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSTICS_FIELD_NUMBER: _ClassVar[int]
    runtime_env: _plugin_pb2.RuntimeEnv
    diagnostics: _containers.RepeatedCompositeFieldContainer[_plugin_pb2.Diagnostic]
    def __init__(self, runtime_env: _Optional[_Union[_plugin_pb2.RuntimeEnv, _Mapping]] = ..., diagnostics: _Optional[_Iterable[_Union[_plugin_pb2.Diagnostic, _Mapping]]] = ...) -> None: ...

class GetRuntimeEnvRequest(_message.Message):
    __slots__ = ("variant_id",)
    VARIANT_ID_FIELD_NUMBER: _ClassVar[int]
    variant_id: str
    def __init__(self, variant_id: _Optional[str] = ...) -> None: ...

class GetRuntimeEnvResponse(_message.Message):
    __slots__ = ("runtime_env", "found")
    RUNTIME_ENV_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    runtime_env: _plugin_pb2.RuntimeEnv
    found: bool
    def __init__(self, runtime_env: _Optional[_Union[_plugin_pb2.RuntimeEnv, _Mapping]] = ..., found: _Optional[bool] = ...) -> None: ...

class CleanupEnvironmentRequest(_message.Message):
    __slots__ = ("variant_id",)
    VARIANT_ID_FIELD_NUMBER: _ClassVar[int]
    variant_id: str
    def __init__(self, variant_id: _Optional[str] = ...) -> None: ...

class CleanupEnvironmentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ShutdownRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ShutdownResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
