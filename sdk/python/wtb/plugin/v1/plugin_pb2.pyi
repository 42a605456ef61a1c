from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PluginKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PLUGIN_KIND_UNSPECIFIED: _ClassVar[PluginKind]
    PLUGIN_KIND_RUNNER: _ClassVar[PluginKind]
    PLUGIN_KIND_ENVIRONMENT: _ClassVar[PluginKind]

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    SEVERITY_ERROR: _ClassVar[Severity]
    SEVERITY_WARNING: _ClassVar[Severity]
PLUGIN_KIND_UNSPECIFIED: PluginKind
PLUGIN_KIND_RUNNER: PluginKind
PLUGIN_KIND_ENVIRONMENT: PluginKind
SEVERITY_UNSPECIFIED: Severity
SEVERITY_ERROR: Severity
SEVERITY_WARNING: Severity

class PluginInfo(_message.Message):
    __slots__ = ("name", "kind", "version", "sdk_version", "protocol_versions", "capabilities", "description", "config_schema")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SDK_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: PluginKind
    version: str
    sdk_version: str
    protocol_versions: _containers.RepeatedScalarFieldContainer[int]
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    description: str
    config_schema: ConfigSchema
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[PluginKind, str]] = ..., version: _Optional[str] = ..., sdk_version: _Optional[str] = ..., protocol_versions: _Optional[_Iterable[int]] = ..., capabilities: _Optional[_Iterable[str]] = ..., description: _Optional[str] = ..., config_schema: _Optional[_Union[ConfigSchema, _Mapping]] = ...) -> None: ...

class ConfigSchema(_message.Message):
    __slots__ = ("attributes",)
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    attributes: _containers.RepeatedCompositeFieldContainer[AttributeSchema]
    def __init__(self, attributes: _Optional[_Iterable[_Union[AttributeSchema, _Mapping]]] = ...) -> None: ...

class AttributeSchema(_message.Message):
    __slots__ = ("name", "type", "required", "description", "default_json", "sensitive")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_JSON_FIELD_NUMBER: _ClassVar[int]
    SENSITIVE_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    required: bool
    description: str
    default_json: bytes
    sensitive: bool
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., required: _Optional[bool] = ..., description: _Optional[str] = ..., default_json: _Optional[bytes] = ..., sensitive: _Optional[bool] = ...) -> None: ...

class Diagnostic(_message.Message):
    __slots__ = ("severity", "summary", "detail", "attribute_path")
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTE_PATH_FIELD_NUMBER: _ClassVar[int]
    severity: Severity
    summary: str
    detail: str
    attribute_path: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, severity: _Optional[_Union[Severity, str]] = ..., summary: _Optional[str] = ..., detail: _Optional[str] = ..., attribute_path: _Optional[_Iterable[str]] = ...) -> None: ...

class RuntimeEnv(_message.Message):
    __slots__ = ("id", "env", "working_dir", "labels")
    class EnvEntry(_message.Message):
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
    ID_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    WORKING_DIR_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    id: str
    env: _containers.ScalarMap[str, str]
    working_dir: str
    labels: _containers.ScalarMap[str, str]
    def __init__(self, id: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., working_dir: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ...) -> None: ...
