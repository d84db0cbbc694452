"""The quality gate and identity aggregation: small pure functions on arrays.

Nothing here runs a model. Faces arrive as detector output (box, score, five landmarks in the
order left eye, right eye, nose tip, left mouth corner, right mouth corner, as seen in the image).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float32]

# Where the five landmarks sit in ArcFace's 112x112 aligned crop; every insightface recogniser
# expects faces warped onto these points.
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)
# In a frontal face the nose tip sits this far down from the eye line towards the mouth line.
_FRONTAL_NOSE_FRACTION = float(
    (ARCFACE_TEMPLATE[2, 1] - ARCFACE_TEMPLATE[:2, 1].mean())
    / (ARCFACE_TEMPLATE[3:, 1].mean() - ARCFACE_TEMPLATE[:2, 1].mean())
)
# Depth of the nose tip in front of the eye plane, relative to the distance between the eyes, and in
# front of the eye-mouth plane relative to the eye-mouth distance (average adult head proportions).
_NOSE_DEPTH_PER_EYE_DISTANCE = 0.5
_NOSE_DEPTH_PER_EYE_MOUTH_DISTANCE = 0.6
DARK_LUMINANCE = 5
BRIGHT_LUMINANCE = 250


class Rejection(enum.IntEnum):
    """Why a photo is not used, in the order checks are reported (mirrors PhotoRejectionReason)."""

    NO_FACE = 1
    MULTIPLE_FACES = 2
    FACE_TOO_SMALL = 3
    LOW_DETECTOR_SCORE = 4
    BLURRY = 5
    UNDEREXPOSED = 6
    OVEREXPOSED = 7
    EXTREME_POSE = 8
    OUTLIER = 9


@dataclass(frozen=True)
class Thresholds:
    """The quality gate of one EncodeIdentity call."""

    min_face_size_px: int = 64
    min_detector_score: float = 0.55
    min_blur_variance: float = 20.0
    min_mean_luminance: float = 40.0
    max_mean_luminance: float = 220.0
    max_clipped_fraction: float = 0.25
    max_abs_yaw_degrees: float = 45.0
    max_abs_pitch_degrees: float = 35.0
    outlier_similarity_threshold: float = 0.35

    def with_overrides(
        self, outlier_similarity_threshold: float | None, min_face_size_px: int | None
    ) -> Thresholds:
        merged = self
        if outlier_similarity_threshold is not None:
            merged = replace(merged, outlier_similarity_threshold=outlier_similarity_threshold)
        if min_face_size_px is not None:
            merged = replace(merged, min_face_size_px=min_face_size_px)
        return merged


@dataclass(frozen=True)
class Face:
    """One detected face in pixels of the decoded image."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float
    landmarks: FloatArray  # (5, 2)

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def size_px(self) -> int:
        """The shorter side of the box."""
        return round(min(self.width, self.height))

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)


@dataclass(frozen=True)
class Exposure:
    mean_luminance: float
    dark_clipped_fraction: float
    bright_clipped_fraction: float


@dataclass(frozen=True)
class HeadPose:
    yaw_degrees: float
    pitch_degrees: float
    roll_degrees: float


def dominant_face(faces: list[Face], min_area_ratio: float) -> tuple[Face | None, bool]:
    """The largest face, and whether it clearly dominates (its area is at least ``min_area_ratio``
    times the runner-up's). No faces: ``(None, False)``."""
    if not faces:
        return None, False
    ranked = sorted(faces, key=lambda face: face.area, reverse=True)
    if len(ranked) == 1:
        return ranked[0], True
    runner_up = ranked[1].area
    return ranked[0], runner_up <= 0 or ranked[0].area >= min_area_ratio * runner_up


def laplacian_variance(grey: NDArray[np.uint8]) -> float:
    """Variance of the 4-neighbour Laplacian: low for blurred images."""
    pixels = grey.astype(np.float32)
    laplacian = (
        pixels[:-2, 1:-1] + pixels[2:, 1:-1] + pixels[1:-1, :-2] + pixels[1:-1, 2:] - 4.0 * pixels[1:-1, 1:-1]
    )
    return float(laplacian.var())


def luminance(bgr: NDArray[np.uint8]) -> NDArray[np.float32]:
    """ITU-R BT.601 luma, 0-255."""
    pixels = bgr.astype(np.float32)
    return 0.114 * pixels[..., 0] + 0.587 * pixels[..., 1] + 0.299 * pixels[..., 2]  # type: ignore[no-any-return]


def face_region(image: NDArray[np.uint8], face: Face) -> NDArray[np.uint8]:
    """The part of the face box inside the image (may be empty for a box wholly outside)."""
    height, width = image.shape[:2]
    x1 = max(math.floor(face.box[0]), 0)
    y1 = max(math.floor(face.box[1]), 0)
    x2 = min(math.ceil(face.box[2]), width)
    y2 = min(math.ceil(face.box[3]), height)
    return image[y1 : max(y2, y1), x1 : max(x2, x1)]


def exposure(region_bgr: NDArray[np.uint8]) -> Exposure:
    if region_bgr.size == 0:
        return Exposure(0.0, 1.0, 0.0)
    luma = luminance(region_bgr)
    return Exposure(
        mean_luminance=float(luma.mean()),
        dark_clipped_fraction=float((luma <= DARK_LUMINANCE).mean()),
        bright_clipped_fraction=float((luma >= BRIGHT_LUMINANCE).mean()),
    )


def head_pose(landmarks: FloatArray) -> HeadPose:
    """Yaw, pitch and roll estimated from the five landmarks (a weak-perspective head model).

    Roll is the angle of the eye line; yaw comes from how far the nose tip sits from the eyes'
    midpoint across the face, pitch from where it sits between the eye line and the mouth line,
    each compared with a frontal face.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    left_eye, right_eye, nose, left_mouth, right_mouth = points
    eye_vector = right_eye - left_eye
    roll = math.degrees(math.atan2(eye_vector[1], eye_vector[0]))
    # Undo the roll so the eye line is horizontal before measuring offsets.
    angle = -math.radians(roll)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    left_eye, right_eye, nose, left_mouth, right_mouth = (rotation @ point for point in points)
    eye_distance = max(float(right_eye[0] - left_eye[0]), 1e-6)
    eye_mid = (left_eye + right_eye) / 2.0
    mouth_mid = (left_mouth + right_mouth) / 2.0
    yaw_ratio = (nose[0] - eye_mid[0]) / eye_distance
    yaw = math.degrees(math.atan2(yaw_ratio, _NOSE_DEPTH_PER_EYE_DISTANCE))
    eye_mouth = max(float(mouth_mid[1] - eye_mid[1]), 1e-6)
    nose_fraction = (nose[1] - eye_mid[1]) / eye_mouth
    pitch = math.degrees(
        math.atan2(_FRONTAL_NOSE_FRACTION - nose_fraction, _NOSE_DEPTH_PER_EYE_MOUTH_DISTANCE)
    )
    return HeadPose(yaw_degrees=float(yaw), pitch_degrees=float(pitch), roll_degrees=float(roll))


@dataclass(frozen=True)
class Measurements:
    """What the gate looks at for one photo's dominant face."""

    face: Face
    clearly_dominant: bool
    blur_variance: float
    exposure: Exposure
    pose: HeadPose


def gate(measured: Measurements | None, thresholds: Thresholds) -> tuple[Rejection | None, str]:
    """The first failed check in the enum's order, with the reason in words; ``(None, "")`` if it passes."""
    if measured is None:
        return Rejection.NO_FACE, "no face was found"
    if not measured.clearly_dominant:
        return (
            Rejection.MULTIPLE_FACES,
            "several faces of similar size and none clearly the subject; crop the photo to one person",
        )
    if measured.face.size_px < thresholds.min_face_size_px:
        return (
            Rejection.FACE_TOO_SMALL,
            f"face is {measured.face.size_px} px, at least {thresholds.min_face_size_px} px needed",
        )
    if measured.face.score < thresholds.min_detector_score:
        return (
            Rejection.LOW_DETECTOR_SCORE,
            f"detector score is {measured.face.score:.2f}, "
            f"at least {thresholds.min_detector_score:.2f} needed",
        )
    if measured.blur_variance < thresholds.min_blur_variance:
        return (
            Rejection.BLURRY,
            f"face is blurred: sharpness {measured.blur_variance:.1f}, "
            f"at least {thresholds.min_blur_variance:.1f} needed",
        )
    light = measured.exposure
    if light.mean_luminance < thresholds.min_mean_luminance:
        return (
            Rejection.UNDEREXPOSED,
            f"face is too dark: mean luminance {light.mean_luminance:.0f}, "
            f"at least {thresholds.min_mean_luminance:.0f} needed",
        )
    if light.dark_clipped_fraction > thresholds.max_clipped_fraction:
        return (
            Rejection.UNDEREXPOSED,
            f"face is too dark: {light.dark_clipped_fraction:.0%} of it is black, "
            f"at most {thresholds.max_clipped_fraction:.0%} allowed",
        )
    if light.mean_luminance > thresholds.max_mean_luminance:
        return (
            Rejection.OVEREXPOSED,
            f"face is too bright: mean luminance {light.mean_luminance:.0f}, "
            f"at most {thresholds.max_mean_luminance:.0f} allowed",
        )
    if light.bright_clipped_fraction > thresholds.max_clipped_fraction:
        return (
            Rejection.OVEREXPOSED,
            f"face is too bright: {light.bright_clipped_fraction:.0%} of it is blown out, "
            f"at most {thresholds.max_clipped_fraction:.0%} allowed",
        )
    pose = measured.pose
    if abs(pose.yaw_degrees) > thresholds.max_abs_yaw_degrees:
        return (
            Rejection.EXTREME_POSE,
            f"head is turned {abs(pose.yaw_degrees):.0f}°, "
            f"at most {thresholds.max_abs_yaw_degrees:.0f}° allowed",
        )
    if abs(pose.pitch_degrees) > thresholds.max_abs_pitch_degrees:
        return (
            Rejection.EXTREME_POSE,
            f"head is tilted {abs(pose.pitch_degrees):.0f}° up or down, "
            f"at most {thresholds.max_abs_pitch_degrees:.0f}° allowed",
        )
    return None, ""


def l2_normalise(vectors: NDArray[np.floating]) -> FloatArray:
    """Rows scaled to unit length (a zero row stays zero)."""
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=-1, keepdims=True)
    unit: FloatArray = (array / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


def aggregate(embeddings: FloatArray) -> FloatArray:
    """The renormalised mean of unit embeddings: the unit vector with the highest mean cosine to them."""
    mean: FloatArray = l2_normalise(embeddings).mean(axis=0)
    return l2_normalise(mean)


def find_outliers(embeddings: FloatArray, threshold: float) -> list[int]:
    """Indices (into ``embeddings``) of photos that do not match the others.

    The photo least similar to the aggregate of the others is removed while it is below
    ``threshold``, and the rest are compared again, so one stranger cannot pull the reference
    away from the person. When two photos remain and disagree, neither can be trusted.
    """
    remaining = list(range(len(embeddings)))
    unit = l2_normalise(embeddings)
    outliers: list[int] = []
    while len(remaining) >= 2:
        similarities = []
        for index in remaining:
            others = [other for other in remaining if other != index]
            similarities.append(float(unit[index] @ aggregate(unit[others])))
        worst = int(np.argmin(similarities))
        if similarities[worst] >= threshold:
            break
        if len(remaining) == 2:
            outliers.extend(remaining)
            break
        outliers.append(remaining.pop(worst))
    return sorted(outliers)


def cosine(value: float) -> float:
    """A cosine computed in float32, within the range a cosine has (-1..1): rounding puts the cosine of
    a vector with itself at 1.0000001, which every consumer of the contract's ranges would refuse."""
    return float(min(1.0, max(-1.0, value)))


def similarity_to_others(embeddings: FloatArray) -> list[float | None]:
    """Each row's mean cosine to every other row; None for a single row."""
    unit = l2_normalise(embeddings)
    count = len(unit)
    if count < 2:
        return [None] * count
    cosines = unit @ unit.T
    return [cosine((cosines[i].sum() - cosines[i, i]) / (count - 1)) for i in range(count)]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))
