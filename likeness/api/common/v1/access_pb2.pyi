from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_VIEWER: _ClassVar[Role]
    ROLE_EDITOR: _ClassVar[Role]
    ROLE_ADMIN: _ClassVar[Role]
    ROLE_SERVICE: _ClassVar[Role]
ROLE_UNSPECIFIED: Role
ROLE_VIEWER: Role
ROLE_EDITOR: Role
ROLE_ADMIN: Role
ROLE_SERVICE: Role
ACCESS_FIELD_NUMBER: _ClassVar[int]
access: _descriptor.FieldDescriptor

class Access(_message.Message):
    __slots__ = ("roles", "refused_action", "refused_target_type", "refused_target_field")
    ROLES_FIELD_NUMBER: _ClassVar[int]
    REFUSED_ACTION_FIELD_NUMBER: _ClassVar[int]
    REFUSED_TARGET_TYPE_FIELD_NUMBER: _ClassVar[int]
    REFUSED_TARGET_FIELD_FIELD_NUMBER: _ClassVar[int]
    roles: _containers.RepeatedScalarFieldContainer[Role]
    refused_action: str
    refused_target_type: str
    refused_target_field: str
    def __init__(self, roles: _Optional[_Iterable[_Union[Role, str]]] = ..., refused_action: _Optional[str] = ..., refused_target_type: _Optional[str] = ..., refused_target_field: _Optional[str] = ...) -> None: ...
