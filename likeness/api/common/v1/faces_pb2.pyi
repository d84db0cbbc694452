from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class Gender(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GENDER_UNSPECIFIED: _ClassVar[Gender]
    GENDER_FEMALE: _ClassVar[Gender]
    GENDER_MALE: _ClassVar[Gender]
    GENDER_NON_BINARY: _ClassVar[Gender]

class PhotoRejectionReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PHOTO_REJECTION_REASON_UNSPECIFIED: _ClassVar[PhotoRejectionReason]
    PHOTO_REJECTION_REASON_NO_FACE: _ClassVar[PhotoRejectionReason]
    PHOTO_REJECTION_REASON_MULTIPLE_FACES: _ClassVar[PhotoRejectionReason]
    PHOTO_REJECTION_REASON_FACE_TOO_SMALL: _ClassVar[PhotoRejectionReason]
    PHOTO_REJECTION_REASON_LOW_DETECTOR_SCORE: _ClassVar[PhotoRejectionReason]
    PHOTO_REJECTION_REASON_BLURRY: _ClassVar[PhotoRejectionReason]
    PHOTO_REJECTION_REASON_UNDEREXPOSED: _ClassVar[PhotoRejectionReason]
    PHOTO_REJECTION_REASON_OVEREXPOSED: _ClassVar[PhotoRejectionReason]
    PHOTO_REJECTION_REASON_EXTREME_POSE: _ClassVar[PhotoRejectionReason]
    PHOTO_REJECTION_REASON_OUTLIER: _ClassVar[PhotoRejectionReason]
GENDER_UNSPECIFIED: Gender
GENDER_FEMALE: Gender
GENDER_MALE: Gender
GENDER_NON_BINARY: Gender
PHOTO_REJECTION_REASON_UNSPECIFIED: PhotoRejectionReason
PHOTO_REJECTION_REASON_NO_FACE: PhotoRejectionReason
PHOTO_REJECTION_REASON_MULTIPLE_FACES: PhotoRejectionReason
PHOTO_REJECTION_REASON_FACE_TOO_SMALL: PhotoRejectionReason
PHOTO_REJECTION_REASON_LOW_DETECTOR_SCORE: PhotoRejectionReason
PHOTO_REJECTION_REASON_BLURRY: PhotoRejectionReason
PHOTO_REJECTION_REASON_UNDEREXPOSED: PhotoRejectionReason
PHOTO_REJECTION_REASON_OVEREXPOSED: PhotoRejectionReason
PHOTO_REJECTION_REASON_EXTREME_POSE: PhotoRejectionReason
PHOTO_REJECTION_REASON_OUTLIER: PhotoRejectionReason
