"""The identity service on real photos, through a real gRPC server, with the default model pack."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2

from likeness.api.common.v1 import faces_pb2
from likeness.api.identity.v1 import identity_service_pb2 as pb
from likeness.identity.encode import Photo, encode_identity
from likeness.identity.quality import Thresholds
from likeness.rpc.auth import Role
from likeness.sdk import AsyncIdentityClient, LikenessError
from tests.fixtures.identity import (
    astronaut,
    augmentations,
    encode,
    letterbox,
    make_mp4,
    png_claiming,
    t1_image,
    t1_person,
)

# Pose and quality do not matter for what an embedding is; the gate is tested on its own.
ANY_POSE = Thresholds(max_abs_yaw_degrees=90.0, max_abs_pitch_degrees=90.0)


@pytest.fixture
async def identity(identity_server: Any, make_token: Any) -> AsyncIterator[AsyncIdentityClient]:
    async with identity_server() as server:
        async with AsyncIdentityClient(
            f"127.0.0.1:{server.port}", token=make_token(roles=[Role.VIEWER]), timeout_s=60
        ) as client:
            yield client


def _photo(image: np.ndarray, label: str = "") -> pb.ReferencePhoto:
    return pb.ReferencePhoto(image=encode(image, "PNG"), label=label)


async def _embed(face_engine: Any, image: np.ndarray) -> np.ndarray:
    result = await encode_identity(face_engine, [Photo(image, "")], ANY_POSE)
    return result.z_id


def _people() -> dict[str, np.ndarray]:
    return {"astronaut": astronaut(), **{f"t1 person {index}": t1_person(index) for index in range(6)}}


async def test_same_face_survives_flip_crop_blur_jpeg_and_rotation(face_engine: Any) -> None:
    lowest = {}
    for name, image in _people().items():
        reference = await _embed(face_engine, image)
        for augmentation, changed in augmentations(image).items():
            similarity = float(reference @ await _embed(face_engine, changed))
            lowest[f"{name} / {augmentation}"] = similarity
    print("same face, lowest similarities:", sorted(lowest.items(), key=lambda item: item[1])[:3])
    assert min(lowest.values()) >= 0.6, lowest


@pytest.mark.parametrize("sizes", [(1, 4), (1, 2)], ids=["padded", "split"])
def test_fixed_batch_sizes_leave_each_face_embedding_unchanged(
    face_engine: Any, sizes: tuple[int, ...]
) -> None:
    # How CUDA runs the recogniser (a few fixed batch sizes, a batch padded or split); checked on the CPU.
    pack = face_engine.pack  # type: ignore[attr-defined]
    image = t1_image()
    crops = [pack.align(image, face) for face in pack.detect(image)][:3]
    alone = np.stack([pack.embed([crop])[0] for crop in crops])
    saved = pack.recogniser_batch_sizes, pack._recognisers
    pack.recogniser_batch_sizes = sizes
    pack._recognisers = dict.fromkeys(sizes, pack.recogniser)
    try:
        batched = pack.embed(crops)
    finally:
        pack.recogniser_batch_sizes, pack._recognisers = saved
    assert batched.shape == (3, 512)
    assert float(np.min(np.sum(alone * batched, axis=1))) > 0.9999


async def test_different_people_score_low(face_engine: Any) -> None:
    embeddings = {name: await _embed(face_engine, image) for name, image in _people().items()}
    pairs = {
        f"{first} / {second}": float(embeddings[first] @ embeddings[second])
        for first, second in itertools.combinations(embeddings, 2)
    }
    print("different people, highest similarity:", max(pairs.items(), key=lambda item: item[1]))
    assert max(pairs.values()) <= 0.3, pairs


async def test_encode_rejects_the_outlier_and_aggregates_the_rest(
    identity: AsyncIdentityClient, face_engine: Any
) -> None:
    variants = augmentations(astronaut())
    accepted_images = [astronaut(), variants["flip"], variants["jpeg"]]
    photos = [
        _photo(astronaut(), "original"),
        _photo(variants["flip"], "flip"),
        _photo(variants["jpeg"], "jpeg"),
        _photo(t1_person(2), "someone else"),
    ]
    response = await identity.api.EncodeIdentity(pb.EncodeIdentityRequest(reference_photos=photos))

    assert response.model_pack_id
    assert response.accepted_count == 3
    assert [report.accepted for report in response.photo_reports] == [True, True, True, False]
    outlier = response.photo_reports[3]
    assert outlier.rejection_reason == faces_pb2.PHOTO_REJECTION_REASON_OUTLIER
    assert "does not match the other photos" in outlier.rejection_message
    assert outlier.label == "someone else" and outlier.face_count == 1
    assert outlier.similarity_to_aggregate < response.thresholds.outlier_similarity_threshold

    z_id = np.asarray(response.z_id, dtype=np.float64)
    assert z_id.shape == (512,)
    assert np.linalg.norm(z_id) == pytest.approx(1.0, abs=1e-5)
    accepted = [report for report in response.photo_reports if report.accepted]
    aggregate_mean = np.mean([report.similarity_to_aggregate for report in accepted])
    assert response.consistency_score == pytest.approx(aggregate_mean, abs=1e-5)
    # The aggregate is closer to the accepted photos, on average, than any one of them is.
    singles = np.stack([await _embed(face_engine, image) for image in accepted_images])
    assert singles @ z_id == pytest.approx([report.similarity_to_aggregate for report in accepted], abs=1e-4)
    single_means = (singles @ singles.T).mean(axis=1)
    print(
        "aggregate mean similarity",
        round(float(aggregate_mean), 4),
        "vs single photos",
        single_means.round(4),
    )
    assert aggregate_mean > single_means.max()

    first = response.photo_reports[0]
    assert first.image_width_px == 512 and first.image_height_px == 512
    assert first.face_size_px >= 64 and first.detector_score > 0.55
    assert first.face_box.width > 0 and first.face_box.height > 0
    assert first.blur_variance > response.thresholds.min_blur_variance
    assert 40 < first.exposure.mean_luminance < 220
    assert abs(first.head_pose.yaw_degrees) < 20
    attributes = response.estimated_attributes
    assert attributes.gender.value == faces_pb2.GENDER_FEMALE
    assert 18 <= attributes.age.years <= 60
    assert attributes.age.low_years < attributes.age.years < attributes.age.high_years


async def test_options_override_the_gate_and_are_echoed(identity: AsyncIdentityClient) -> None:
    request = pb.EncodeIdentityRequest(
        reference_photos=[_photo(astronaut())],
        options=pb.EncodeOptions(min_face_size_px=200, outlier_similarity_threshold=0.5),
    )
    with pytest.raises(LikenessError) as raised:
        await identity.api.EncodeIdentity(request)
    assert raised.value.code == grpc.StatusCode.FAILED_PRECONDITION
    violation = raised.value.detail(error_details_pb2.PreconditionFailure).violations[0]
    assert violation.type == "PHOTO_REJECTION_REASON_FACE_TOO_SMALL"
    assert "at least 200 px needed" in violation.description

    request.options.min_face_size_px = 32
    response = await identity.api.EncodeIdentity(request)
    assert response.thresholds.min_face_size_px == 32
    assert response.thresholds.outlier_similarity_threshold == pytest.approx(0.5)
    assert response.consistency_score == pytest.approx(1.0, abs=1e-5)


def _two_faces() -> np.ndarray:
    left, right = letterbox(t1_person(0), 400), letterbox(t1_person(5), 400)
    return np.hstack([left, right])


@pytest.mark.parametrize(
    ("case", "data", "code", "words"),
    [
        (
            "corrupt bytes",
            b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8,
            grpc.StatusCode.INVALID_ARGUMENT,
            "JPEG header is corrupt",
        ),
        ("text file", b"name,face\nalice,none\n" * 20, grpc.StatusCode.INVALID_ARGUMENT, "not a JPEG, PNG"),
        ("1x1 image", encode(np.zeros((1, 1, 3), np.uint8)), grpc.StatusCode.INVALID_ARGUMENT, "1x1 pixels"),
        (
            "20000x20000 header",
            png_claiming(20000, 20000),
            grpc.StatusCode.INVALID_ARGUMENT,
            "20000x20000 pixels",
        ),
        ("GIF", b"GIF89a" + bytes(64), grpc.StatusCode.INVALID_ARGUMENT, "not a JPEG, PNG or WebP"),
    ],
)
async def test_undecodable_photos_are_invalid_argument_and_the_server_keeps_serving(
    identity: AsyncIdentityClient, case: str, data: bytes, code: grpc.StatusCode, words: str
) -> None:
    photos = [_photo(astronaut()), pb.ReferencePhoto(image=data)]
    with pytest.raises(LikenessError) as raised:
        await identity.api.EncodeIdentity(pb.EncodeIdentityRequest(reference_photos=photos))
    assert raised.value.code == code, case
    assert words in raised.value.message, raised.value.message
    violations = raised.value.detail(error_details_pb2.BadRequest).field_violations
    assert [violation.field for violation in violations] == ["reference_photos[1]"]
    response = await identity.api.EncodeIdentity(pb.EncodeIdentityRequest(reference_photos=photos[:1]))
    assert response.accepted_count == 1


@pytest.mark.parametrize(
    ("case", "image", "reason", "words"),
    [
        ("no face", np.full((256, 256, 3), 180, np.uint8), "NO_FACE", "no face was found"),
        ("two equally dominant faces", _two_faces(), "MULTIPLE_FACES", "several faces"),
        ("turned head", t1_person(4), "EXTREME_POSE", "head is turned"),
    ],
)
async def test_unusable_photos_are_failed_precondition_with_a_reason_per_photo(
    identity: AsyncIdentityClient, case: str, image: np.ndarray, reason: str, words: str
) -> None:
    request = pb.EncodeIdentityRequest(reference_photos=[_photo(image, case)])
    with pytest.raises(LikenessError) as raised:
        await identity.api.EncodeIdentity(request)
    assert raised.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert words in raised.value.message
    (violation,) = raised.value.detail(error_details_pb2.PreconditionFailure).violations
    assert violation.type == f"PHOTO_REJECTION_REASON_{reason}"
    assert violation.subject == "reference_photos[0]"
    assert words in violation.description
    response = await identity.api.EncodeIdentity(
        pb.EncodeIdentityRequest(reference_photos=[_photo(astronaut())])
    )
    assert response.accepted_count == 1


async def test_compare_identities_uses_the_calibrated_threshold(identity: AsyncIdentityClient) -> None:
    variants = augmentations(astronaut())
    astronaut_id = await identity.api.EncodeIdentity(
        pb.EncodeIdentityRequest(reference_photos=[_photo(astronaut()), _photo(variants["flip"])])
    )
    blurred_id = await identity.api.EncodeIdentity(
        pb.EncodeIdentityRequest(reference_photos=[_photo(variants["blur"])])
    )
    other_id = await identity.api.EncodeIdentity(
        pb.EncodeIdentityRequest(reference_photos=[_photo(t1_person(3))])
    )
    pack = astronaut_id.model_pack_id

    same = await identity.api.CompareIdentities(
        pb.CompareIdentitiesRequest(
            first_z_id=astronaut_id.z_id, second_z_id=blurred_id.z_id, model_pack_id=pack
        )
    )
    different = await identity.api.CompareIdentities(
        pb.CompareIdentitiesRequest(first_z_id=astronaut_id.z_id, second_z_id=other_id.z_id)
    )
    assert same.same_person and same.cosine_similarity >= 0.6
    assert not different.same_person and different.cosine_similarity <= 0.3
    assert same.threshold == different.threshold and 0.3 < same.threshold < 0.6
    assert same.model_pack_id == different.model_pack_id == pack

    with pytest.raises(LikenessError) as mismatch:
        await identity.api.CompareIdentities(
            pb.CompareIdentitiesRequest(
                first_z_id=astronaut_id.z_id, second_z_id=other_id.z_id, model_pack_id="buffalo_l"
            )
        )
    assert mismatch.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "buffalo_l" in mismatch.value.message

    with pytest.raises(LikenessError) as unnormalised:
        await identity.api.CompareIdentities(
            pb.CompareIdentitiesRequest(first_z_id=[0.5] * 512, second_z_id=other_id.z_id)
        )
    assert unnormalised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "first_z_id" in unnormalised.value.message

    with pytest.raises(LikenessError) as short:
        await identity.api.CompareIdentities(pb.CompareIdentitiesRequest(first_z_id=[1.0], second_z_id=[1.0]))
    assert short.value.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_score_video_reports_a_run_of_another_person_frame_by_frame(
    identity: AsyncIdentityClient,
) -> None:
    astronaut_frame = astronaut()
    stranger_frame = letterbox(t1_person(2), 512)
    frames = [stranger_frame if 8 <= index < 16 else astronaut_frame for index in range(24)]
    video = make_mp4(frames, fps=8)
    astronaut_id = await identity.api.EncodeIdentity(
        pb.EncodeIdentityRequest(reference_photos=[_photo(astronaut())])
    )
    stranger_id = await identity.api.EncodeIdentity(
        pb.EncodeIdentityRequest(reference_photos=[_photo(t1_person(2))])
    )

    response = await identity.api.ScoreVideo(
        pb.ScoreVideoRequest(
            video_bytes=video,
            identities=[
                pb.IdentityToScore(label="astronaut", z_id=astronaut_id.z_id),
                pb.IdentityToScore(label="stranger", z_id=stranger_id.z_id),
            ],
            sample_frames=24,
            model_pack_id=astronaut_id.model_pack_id,
        )
    )

    assert response.model_pack_id == astronaut_id.model_pack_id
    assert response.frames_sampled == 24
    assert response.video.frame_count == 24 and response.video.fps == pytest.approx(8.0)
    assert (response.video.width_px, response.video.height_px) == (512, 512)
    assert response.video.duration.ToMilliseconds() == pytest.approx(3000, abs=200)
    astronaut_score, stranger_score = response.identity_scores
    assert [frame.frame_index for frame in astronaut_score.frames] == list(range(24))
    assert astronaut_score.frames[9].timestamp.ToMilliseconds() == 1125
    middle = [8 <= index < 16 for index in range(24)]
    # Each frame has one face, assigned to whichever identity it resembles more.
    assert [frame.face_found for frame in astronaut_score.frames] == [not run for run in middle]
    assert [frame.face_found for frame in stranger_score.frames] == middle
    assert all(frame.similarity >= 0.6 for frame in astronaut_score.frames if frame.face_found)
    assert all(frame.similarity >= 0.6 for frame in stranger_score.frames if frame.face_found)
    assert astronaut_score.no_face_fraction == pytest.approx(8 / 24)
    assert stranger_score.no_face_fraction == pytest.approx(16 / 24)
    assert astronaut_score.min_similarity >= 0.6 and astronaut_score.adjacent_frame_consistency > 0.9

    single = await identity.api.ScoreVideo(
        pb.ScoreVideoRequest(
            video_bytes=video, identities=[pb.IdentityToScore(label="astronaut", z_id=astronaut_id.z_id)]
        )
    )
    assert single.frames_sampled == 16
    score = single.identity_scores[0]
    sampled = score.frames
    assert sampled[0].frame_index == 0 and sampled[-1].frame_index == 23
    # With only the astronaut to look for, the stranger's face is hers in those frames, and scores low.
    pattern = "".join("A" if frame.similarity >= 0.6 else "x" for frame in sampled)
    print("astronaut per sampled frame:", pattern, [round(frame.similarity, 2) for frame in sampled])
    assert all(frame.face_found for frame in sampled) and score.no_face_fraction == 0.0
    assert [frame.similarity < 0.3 for frame in sampled] == [8 <= frame.frame_index < 16 for frame in sampled]
    assert score.min_similarity < 0.3 and score.p10_similarity < 0.3
    assert score.p50_similarity >= 0.6 and score.p90_similarity >= score.p50_similarity
    assert score.mean_similarity == pytest.approx(np.mean([frame.similarity for frame in sampled]), abs=1e-5)
    # Two of the fifteen adjacent pairs cross from one person to the other.
    assert score.adjacent_frame_consistency < astronaut_score.adjacent_frame_consistency - 0.1


async def test_score_video_refuses_what_is_not_an_mp4(identity: AsyncIdentityClient) -> None:
    unit = [1.0] + [0.0] * 511
    with pytest.raises(LikenessError) as raised:
        await identity.api.ScoreVideo(
            pb.ScoreVideoRequest(
                video_bytes=encode(astronaut(), "PNG"), identities=[pb.IdentityToScore(label="a", z_id=unit)]
            )
        )
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "MP4" in raised.value.message
    assert raised.value.detail(error_details_pb2.BadRequest).field_violations[0].field == "video_bytes"


async def test_calls_before_the_models_are_loaded_are_unavailable(jwt_key: Any, make_token: Any) -> None:
    from likeness.identity.server import build_spec
    from likeness.identity.settings import IdentitySettings
    from tests.fixtures.services import running, settings_for

    loaded = asyncio.Event()
    settings = settings_for(IdentitySettings, jwt_key)
    spec = build_spec(settings)

    async def models_never_arrive() -> None:
        await loaded.wait()

    spec.start = models_never_arrive
    async with running(settings, spec, wait_ready=False) as server:
        async with AsyncIdentityClient(f"127.0.0.1:{server.port}", token=make_token(), timeout_s=5) as client:
            unit = [1.0] + [0.0] * 511
            with pytest.raises(LikenessError) as raised:
                await client.api.CompareIdentities(
                    pb.CompareIdentitiesRequest(first_z_id=unit, second_z_id=unit)
                )
        loaded.set()
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE
    assert "loading" in raised.value.message
