"""The identity service reading photos and videos from a real assets service by object id."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest

from likeness.api.assets.v1 import assets_service_pb2 as assets_pb
from likeness.api.identity.v1 import identity_service_pb2 as pb
from likeness.rpc.auth import Role
from likeness.sdk import AsyncAssetsClient, AsyncIdentityClient, LikenessError
from tests.assets_support import create_brand, upload
from tests.fixtures.identity import astronaut, augmentations, encode, make_mp4


async def test_photos_and_videos_by_object_id_stay_within_the_brand(
    assets_server: Any, identity_server: Any, make_token: Any
) -> None:
    async with assets_server() as assets:
        address = f"127.0.0.1:{assets.port}"
        async with identity_server(assets_address=address) as identity_srv:
            target = f"127.0.0.1:{identity_srv.port}"
            for brand in ("acme", "rival"):
                async with AsyncAssetsClient(address, token=make_token(brand=brand)) as admin:
                    await create_brand(admin, brand)
            async with AsyncAssetsClient(
                address, token=make_token(brand="acme", roles=[Role.EDITOR])
            ) as acme:
                photo = await upload(
                    acme, encode(astronaut(), "JPEG", quality=92), assets_pb.OBJECT_PURPOSE_REFERENCE_PHOTO
                )
                flipped = await upload(
                    acme,
                    encode(augmentations(astronaut())["flip"], "PNG"),
                    assets_pb.OBJECT_PURPOSE_REFERENCE_PHOTO,
                )
                video = await upload(acme, make_mp4([astronaut()] * 6), assets_pb.OBJECT_PURPOSE_VIDEO)

            async with AsyncIdentityClient(
                target, token=make_token(brand="acme", roles=[Role.VIEWER])
            ) as client:
                response = await client.api.EncodeIdentity(
                    pb.EncodeIdentityRequest(
                        reference_photos=[
                            pb.ReferencePhoto(object_id=photo.object_id, label="stored"),
                            pb.ReferencePhoto(object_id=flipped.object_id),
                            pb.ReferencePhoto(image=encode(astronaut(), "WEBP", quality=90), label="inline"),
                        ]
                    )
                )
                assert response.accepted_count == 3
                assert response.consistency_score > 0.9
                scored = await client.api.ScoreVideo(
                    pb.ScoreVideoRequest(
                        video_object_id=video.object_id,
                        identities=[pb.IdentityToScore(label="astronaut", z_id=response.z_id)],
                    )
                )
                assert scored.frames_sampled == 6
                assert scored.identity_scores[0].min_similarity > 0.8

                with pytest.raises(LikenessError) as unknown:
                    await client.api.EncodeIdentity(
                        pb.EncodeIdentityRequest(
                            reference_photos=[pb.ReferencePhoto(object_id=str(uuid.uuid4()))]
                        )
                    )
                assert unknown.value.code == grpc.StatusCode.NOT_FOUND
                assert "reference_photos[0]" in unknown.value.message

            # Another brand's caller cannot read acme's objects through the identity service.
            async with AsyncIdentityClient(
                target, token=make_token(brand="rival", roles=[Role.VIEWER])
            ) as rival:
                with pytest.raises(LikenessError) as foreign:
                    await rival.api.EncodeIdentity(
                        pb.EncodeIdentityRequest(
                            reference_photos=[pb.ReferencePhoto(object_id=photo.object_id)]
                        )
                    )
                assert foreign.value.code == grpc.StatusCode.NOT_FOUND
                with pytest.raises(LikenessError) as foreign_video:
                    await rival.api.ScoreVideo(
                        pb.ScoreVideoRequest(
                            video_object_id=video.object_id,
                            identities=[pb.IdentityToScore(label="astronaut", z_id=response.z_id)],
                        )
                    )
                assert foreign_video.value.code == grpc.StatusCode.NOT_FOUND
