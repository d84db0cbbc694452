"""The identity service's pure functions: pose, gate order, outliers, aggregation, batching."""

from __future__ import annotations

import asyncio
import math
import threading

import numpy as np
import pytest

from likeness.errors import ResourceExhausted
from likeness.identity.batching import MicroBatcher
from likeness.identity.media import sample_indices
from likeness.identity.models import batch_buckets, detector_input_size, padded_batch, similarity_transform
from likeness.identity.quality import (
    ARCFACE_TEMPLATE,
    Exposure,
    Face,
    HeadPose,
    Measurements,
    Rejection,
    Thresholds,
    aggregate,
    dominant_face,
    find_outliers,
    gate,
    head_pose,
    laplacian_variance,
    similarity_to_others,
)


def _rotate(points: np.ndarray, degrees: float) -> np.ndarray:
    angle = math.radians(degrees)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    centre = points.mean(axis=0)
    return ((points - centre) @ rotation.T + centre).astype(np.float32)


def test_frontal_template_has_no_pose_and_roll_follows_the_eye_line() -> None:
    frontal = head_pose(ARCFACE_TEMPLATE)
    assert abs(frontal.yaw_degrees) < 2 and abs(frontal.pitch_degrees) < 2 and abs(frontal.roll_degrees) < 1
    tilted = head_pose(_rotate(ARCFACE_TEMPLATE, 20))
    # Image y points down, so a positive rotation turns the face clockwise on screen.
    assert tilted.roll_degrees == pytest.approx(20, abs=0.5)
    assert abs(tilted.yaw_degrees) < 2


def test_yaw_and_pitch_follow_the_nose() -> None:
    turned_right = ARCFACE_TEMPLATE.copy()
    turned_right[2, 0] += 12
    looking_up = ARCFACE_TEMPLATE.copy()
    looking_up[2, 1] -= 10
    assert head_pose(turned_right).yaw_degrees > 30
    assert head_pose(looking_up).pitch_degrees > 20
    turned_left = ARCFACE_TEMPLATE.copy()
    turned_left[2, 0] -= 12
    assert head_pose(turned_left).yaw_degrees == pytest.approx(-head_pose(turned_right).yaw_degrees, abs=1)


def _face(side: float, score: float = 0.9, x: float = 0.0) -> Face:
    return Face(box=(x, 0.0, x + side, side), score=score, landmarks=ARCFACE_TEMPLATE)


def test_dominant_face_needs_a_clear_margin() -> None:
    face, clear = dominant_face([_face(100), _face(98, x=200)], 2.0)
    assert face is not None and face.size_px == 100 and not clear
    face, clear = dominant_face([_face(60, x=200), _face(100)], 2.0)
    assert face is not None and face.size_px == 100 and clear
    assert dominant_face([], 2.0) == (None, False)


def _measurements(**changes: object) -> Measurements:
    values: dict[str, object] = {
        "face": _face(120),
        "clearly_dominant": True,
        "blur_variance": 300.0,
        "exposure": Exposure(128.0, 0.0, 0.0),
        "pose": HeadPose(0.0, 0.0, 0.0),
    }
    values.update(changes)
    return Measurements(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "reason", "words"),
    [
        ({"clearly_dominant": False}, Rejection.MULTIPLE_FACES, "several faces"),
        ({"face": _face(40)}, Rejection.FACE_TOO_SMALL, "face is 40 px, at least 64 px needed"),
        ({"face": _face(120, score=0.3)}, Rejection.LOW_DETECTOR_SCORE, "detector score is 0.30"),
        ({"blur_variance": 3.0}, Rejection.BLURRY, "sharpness 3.0"),
        ({"exposure": Exposure(20.0, 0.0, 0.0)}, Rejection.UNDEREXPOSED, "mean luminance 20"),
        ({"exposure": Exposure(100.0, 0.5, 0.0)}, Rejection.UNDEREXPOSED, "50% of it is black"),
        ({"exposure": Exposure(240.0, 0.0, 0.0)}, Rejection.OVEREXPOSED, "mean luminance 240"),
        ({"pose": HeadPose(70.0, 0.0, 0.0)}, Rejection.EXTREME_POSE, "turned 70°"),
        ({"pose": HeadPose(0.0, -50.0, 0.0)}, Rejection.EXTREME_POSE, "tilted 50°"),
    ],
)
def test_gate_names_the_failed_check_with_value_and_threshold(
    changes: dict[str, object], reason: Rejection, words: str
) -> None:
    rejection, message = gate(_measurements(**changes), Thresholds())
    assert rejection is reason
    assert words in message


def test_gate_reports_the_first_failure_in_enum_order_and_passes_good_faces() -> None:
    rejection, _ = gate(
        _measurements(face=_face(40), blur_variance=1.0, pose=HeadPose(80, 0, 0)), Thresholds()
    )
    assert rejection is Rejection.FACE_TOO_SMALL
    assert gate(None, Thresholds())[0] is Rejection.NO_FACE
    assert gate(_measurements(), Thresholds()) == (None, "")
    assert gate(_measurements(face=_face(40)), Thresholds().with_overrides(None, 32)) == (None, "")


def test_laplacian_variance_drops_with_blur() -> None:
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 255, size=(112, 112), dtype=np.uint8)
    blurred = np.full((112, 112), 128, dtype=np.uint8)
    assert laplacian_variance(sharp) > 1000 > laplacian_variance(blurred) == 0.0


def _person(rng: np.random.Generator, centre: np.ndarray, spread: float, count: int) -> np.ndarray:
    samples = centre + spread * rng.standard_normal((count, centre.size))
    return samples / np.linalg.norm(samples, axis=1, keepdims=True)


def test_outlier_is_removed_and_aggregate_beats_every_single_photo() -> None:
    rng = np.random.default_rng(7)
    person = rng.standard_normal(512)
    person /= np.linalg.norm(person)
    stranger = rng.standard_normal(512)
    stranger /= np.linalg.norm(stranger)
    photos = np.vstack([_person(rng, person, 0.04, 3), stranger[None, :]]).astype(np.float32)
    assert find_outliers(photos, 0.35) == [3]
    accepted = photos[:3]
    z_id = aggregate(accepted)
    assert np.linalg.norm(z_id) == pytest.approx(1.0, abs=1e-6)
    aggregate_mean = float(np.mean(accepted @ z_id))
    for single in accepted:
        assert aggregate_mean > float(np.mean(accepted @ single))


def test_two_photos_that_disagree_are_both_outliers() -> None:
    rng = np.random.default_rng(3)
    first, second = (vector / np.linalg.norm(vector) for vector in rng.standard_normal((2, 512)))
    assert find_outliers(np.stack([first, second]).astype(np.float32), 0.35) == [0, 1]
    assert find_outliers(np.stack([first, first]).astype(np.float32), 0.35) == []


def test_similarity_to_others_is_the_mean_over_the_other_photos() -> None:
    vectors = np.eye(3, 512, dtype=np.float32)
    vectors[1] = vectors[0]
    assert similarity_to_others(vectors) == pytest.approx([0.5, 0.5, 0.0])
    assert similarity_to_others(vectors[:1]) == [None]


def test_frames_are_sampled_evenly_over_the_whole_video() -> None:
    assert sample_indices(100, 5) == [0, 25, 50, 74, 99]
    assert sample_indices(3, 16) == [0, 1, 2]


def test_detector_input_keeps_the_aspect_ratio_on_a_32_pixel_grid() -> None:
    assert detector_input_size(1280, 886, 640) == (640, 448)
    assert detector_input_size(886, 1280, 640) == (448, 640)
    assert detector_input_size(4000, 10, 640) == (640, 32)
    # Small photos are not enlarged.
    assert detector_input_size(512, 512, 640) == (512, 512)
    assert detector_input_size(300, 200, 640) == (320, 224)


def test_alignment_maps_landmarks_onto_the_template() -> None:
    source = _rotate(ARCFACE_TEMPLATE * 2.5 + 40, 30)
    matrix = similarity_transform(source, ARCFACE_TEMPLATE)
    mapped = source @ matrix[:, :2].T + matrix[:, 2]
    assert np.allclose(mapped, ARCFACE_TEMPLATE, atol=1e-3)


async def test_batcher_groups_concurrent_items_and_keeps_order() -> None:
    batches: list[list[int]] = []
    batcher: MicroBatcher[int, int] = MicroBatcher(
        "square",
        lambda items: batches.append(items) or [item * item for item in items],
        max_batch=8,
        window_s=0.05,
        max_queued=64,
    )
    batcher.start()
    try:
        results = await asyncio.gather(*(batcher.run([value]) for value in range(6)), batcher.run([10, 11]))
    finally:
        batcher.stop()
    assert [result for group in results for result in group] == [0, 1, 4, 9, 16, 25, 100, 121]
    assert len(batches) == 1 and sorted(batches[0]) == [0, 1, 2, 3, 4, 5, 10, 11]


def test_batcher_refuses_work_beyond_its_queue_and_reports_failures() -> None:
    release = threading.Event()
    started = threading.Event()

    def slow(items: list[int]) -> list[int]:
        started.set()
        release.wait(5)
        if 13 in items:
            raise ValueError("unlucky")
        return items

    batcher: MicroBatcher[int, int] = MicroBatcher("slow", slow, max_batch=1, window_s=0.0, max_queued=2)
    batcher.start()
    try:
        first = batcher.submit(13)
        assert started.wait(5)
        batcher.submit(1)
        batcher.submit(2)
        with pytest.raises(ResourceExhausted, match="saturated"):
            batcher.submit(3)
        release.set()
        with pytest.raises(ValueError, match="unlucky"):
            first.result(timeout=5)
    finally:
        release.set()
        batcher.stop()


def test_cuda_recogniser_batches_are_padded_to_a_few_sizes() -> None:
    assert batch_buckets(32) == (1, 4, 16, 32)
    assert batch_buckets(12) == (1, 4, 12)
    assert batch_buckets(1) == (1,)
    crops = [np.full((2, 2, 3), value, dtype=np.uint8) for value in (1, 2, 3)]
    padded = padded_batch(crops, (1, 2, 4, 8))
    assert len(padded) == 4 and padded[:3] == crops and padded[3] is crops[0]
    # No sizes (the CPU) or none large enough: the batch as it is.
    assert padded_batch(crops, ()) == crops
    assert padded_batch(crops, (1, 2)) == crops


def test_cosines_stay_within_their_range_despite_float32_rounding() -> None:
    import numpy as np

    from likeness.identity.quality import cosine, similarity_to_others

    vector = np.random.default_rng(3).standard_normal(512).astype(np.float32)
    same = np.stack([vector, vector * 1.0000001, vector])
    assert all(value is not None and -1.0 <= value <= 1.0 for value in similarity_to_others(same))
    assert cosine(1.0000001192092896) == 1.0 and cosine(-1.0000002) == -1.0 and cosine(0.25) == 0.25
