from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class UsagePurpose(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    USAGE_PURPOSE_UNSPECIFIED: _ClassVar[UsagePurpose]
    USAGE_PURPOSE_ADVERTISING: _ClassVar[UsagePurpose]
    USAGE_PURPOSE_SOCIAL: _ClassVar[UsagePurpose]
    USAGE_PURPOSE_EDITORIAL: _ClassVar[UsagePurpose]
    USAGE_PURPOSE_INTERNAL_TESTING: _ClassVar[UsagePurpose]

class UsageChannel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    USAGE_CHANNEL_UNSPECIFIED: _ClassVar[UsageChannel]
    USAGE_CHANNEL_TV: _ClassVar[UsageChannel]
    USAGE_CHANNEL_ONLINE_VIDEO: _ClassVar[UsageChannel]
    USAGE_CHANNEL_SOCIAL: _ClassVar[UsageChannel]
    USAGE_CHANNEL_PRINT: _ClassVar[UsageChannel]
    USAGE_CHANNEL_OUT_OF_HOME: _ClassVar[UsageChannel]
    USAGE_CHANNEL_INTERNAL: _ClassVar[UsageChannel]
USAGE_PURPOSE_UNSPECIFIED: UsagePurpose
USAGE_PURPOSE_ADVERTISING: UsagePurpose
USAGE_PURPOSE_SOCIAL: UsagePurpose
USAGE_PURPOSE_EDITORIAL: UsagePurpose
USAGE_PURPOSE_INTERNAL_TESTING: UsagePurpose
USAGE_CHANNEL_UNSPECIFIED: UsageChannel
USAGE_CHANNEL_TV: UsageChannel
USAGE_CHANNEL_ONLINE_VIDEO: UsageChannel
USAGE_CHANNEL_SOCIAL: UsageChannel
USAGE_CHANNEL_PRINT: UsageChannel
USAGE_CHANNEL_OUT_OF_HOME: UsageChannel
USAGE_CHANNEL_INTERNAL: UsageChannel
