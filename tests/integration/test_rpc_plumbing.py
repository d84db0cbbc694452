"""The shared gRPC edge, exercised through real servers and the SDK."""

from __future__ import annotations

import asyncio
import gc
import time

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from likeness.api.assets.v1 import assets_service_pb2 as assets_pb
from likeness.api.identity.v1 import identity_service_pb2 as identity_pb
from likeness.identity.server import build_spec as build_identity_spec
from likeness.identity.settings import IdentitySettings
from likeness.rpc.auth import JwtKey, Role
from likeness.rpc.server import RpcServer
from likeness.sdk import AsyncAssetsClient, AsyncIdentityClient, LikenessError
from tests.fixtures.services import settings_for

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _health(port: int, service: str = "") -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        response = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5
        )
        return response.status


async def _reflected_services(port: int) -> set[str]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        call = stub.ServerReflectionInfo()
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        response = await call.read()
        await call.done_writing()
        return {service.name for service in response.list_services_response.service}


async def test_health_is_not_serving_until_dependencies_are_ready(jwt_key: JwtKey) -> None:
    dependencies_ready = asyncio.Event()
    settings = settings_for(IdentitySettings, jwt_key)
    spec = build_identity_spec(settings)

    async def slow_start() -> None:
        await dependencies_ready.wait()

    spec.start = slow_start
    server = RpcServer(settings, spec)
    port = await server.start()
    try:
        assert await _health(port) == NOT_SERVING
        assert await _health(port, spec.name) == NOT_SERVING
        dependencies_ready.set()
        await server.wait_ready()
        assert await _health(port) == SERVING
        assert await _health(port, spec.name) == SERVING
    finally:
        await server.stop(grace=0)


async def test_a_server_freezes_what_start_up_left_alive_when_it_is_ready(jwt_key: JwtKey) -> None:
    settings = settings_for(IdentitySettings, jwt_key, freeze_gc_after_start=True)
    spec = build_identity_spec(settings)
    spec.start = None
    gc.unfreeze()
    made_at_start_up = [object() for _ in range(10)]
    server = RpcServer(settings, spec)
    await server.start()
    try:
        await server.wait_ready()
        frozen = gc.get_freeze_count()
    finally:
        await server.stop(grace=0)
        gc.unfreeze()
    assert frozen >= len(made_at_start_up)


async def test_health_turns_not_serving_while_draining(jwt_key: JwtKey) -> None:
    settings = settings_for(IdentitySettings, jwt_key, drain_delay_s=1.0)
    server = RpcServer(settings, build_identity_spec(settings))
    port = await server.start()
    await server.wait_ready()
    assert await _health(port) == SERVING
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
        assert (await watch.read()).status == SERVING
        stopping = asyncio.create_task(server.stop())
        # The health service's own stream reports the change: nothing is guessed about its timing.
        assert (await asyncio.wait_for(watch.read(), timeout=5)).status == NOT_SERVING
        watch.cancel()
    assert not stopping.done()  # still draining: the delay before the server stops listening
    assert await _health(port) == NOT_SERVING
    assert await _health(port, server.spec.name) == NOT_SERVING
    await stopping


async def test_reflection_lists_each_service(identity_server, assets_server, generator_server) -> None:
    async with identity_server() as identity, assets_server() as assets, generator_server() as generator:
        listed = {
            name
            for server in (identity, assets, generator)
            for name in await _reflected_services(server.port)
        }
        assert {
            "likeness.identity.v1.IdentityService",
            "likeness.assets.v1.AssetsService",
            "likeness.generator.v1.GeneratorService",
            "grpc.health.v1.Health",
        } <= listed
        for server in (identity, assets, generator):
            assert await _health(server.port, server.spec.name) == SERVING


async def _code_of(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(LikenessError) as raised:
        await call
    return raised.value.code, raised.value.message


async def test_missing_expired_and_forged_tokens_are_unauthenticated(identity_server, make_token) -> None:
    request = identity_pb.CompareIdentitiesRequest()
    async with identity_server() as server:
        target = f"127.0.0.1:{server.port}"
        forged_key = JwtKey(kid="test-key", secret="a-different-secret-of-sufficient-length!")
        cases = {
            "missing": None,
            "expired": make_token(ttl_seconds=60, now=time.time() - 3600),
            "forged": make_token(key=forged_key),
            "garbage": "not-a-jwt",
            # Signed with the real key, but good until the year ~9999: past the maximum lifetime.
            "lives for ages": make_token(ttl_seconds=250_000 * 365 * 86400.0),
        }
        for case, token in cases.items():
            async with AsyncIdentityClient(target, token=token) as client:
                code, message = await _code_of(client.api.CompareIdentities(request))
                assert code == grpc.StatusCode.UNAUTHENTICATED, (case, message)
                if case == "lives for ages":
                    assert "at most 86400 s" in message, message


async def test_role_too_weak_is_permission_denied(assets_server, make_token) -> None:
    async with assets_server() as server:
        token = make_token(brand="acme", roles=[Role.EDITOR])
        async with AsyncAssetsClient(f"127.0.0.1:{server.port}", token=token) as client:
            code, message = await _code_of(
                client.api.CreateBrand(assets_pb.CreateBrandRequest(brand_id="acme", display_name="Acme"))
            )
        assert code == grpc.StatusCode.PERMISSION_DENIED
        assert "admin" in message


async def test_another_brands_id_looks_exactly_like_an_unknown_id(assets_server, make_token) -> None:
    async with assets_server() as server:
        target = f"127.0.0.1:{server.port}"
        async with AsyncAssetsClient(target, token=make_token(brand="brand-b")) as brand_b:
            await brand_b.api.CreateBrand(assets_pb.CreateBrandRequest(brand_id="brand-b", display_name="B"))
        async with AsyncAssetsClient(target, token=make_token(brand="brand-a")) as brand_a:
            await brand_a.api.CreateBrand(assets_pb.CreateBrandRequest(brand_id="brand-a", display_name="A"))
            own = await brand_a.api.GetBrand(assets_pb.GetBrandRequest())
            assert own.brand.display_name == "A"
            with pytest.raises(LikenessError) as other:
                await brand_a.api.GetBrand(assets_pb.GetBrandRequest(brand_id="brand-b"))
            with pytest.raises(LikenessError) as unknown:
                await brand_a.api.GetBrand(assets_pb.GetBrandRequest(brand_id="brand-z"))
    assert other.value.code == unknown.value.code == grpc.StatusCode.NOT_FOUND
    assert other.value.message.replace("brand-b", "X") == unknown.value.message.replace("brand-z", "X")
    assert type(other.value.details) is type(unknown.value.details)
    assert [type(d) for d in other.value.details] == [type(d) for d in unknown.value.details]


async def test_message_over_the_size_limit_is_resource_exhausted(identity_server, make_token) -> None:
    async with identity_server(max_receive_message_bytes=64 * 1024) as server:
        async with AsyncIdentityClient(f"127.0.0.1:{server.port}", token=make_token()) as client:
            request = identity_pb.EncodeIdentityRequest(
                reference_photos=[identity_pb.ReferencePhoto(image=b"\xff" * 200 * 1024)]
            )
            code, message = await _code_of(client.api.EncodeIdentity(request))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, message


async def test_invalid_request_is_invalid_argument_with_field_violations(assets_server, make_token) -> None:
    async with assets_server() as server:
        async with AsyncAssetsClient(f"127.0.0.1:{server.port}", token=make_token()) as client:
            with pytest.raises(LikenessError) as raised:
                await client.api.CreateBrand(assets_pb.CreateBrandRequest(brand_id="Not A Slug!"))
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    bad_request = raised.value.detail(error_details_pb2.BadRequest)
    assert bad_request is not None
    assert {violation.field for violation in bad_request.field_violations} >= {"brand_id", "display_name"}
    assert raised.value.request_id


async def test_a_nul_character_in_any_string_is_invalid_argument_naming_the_field(
    assets_server, make_token
) -> None:
    async with assets_server() as server:
        async with AsyncAssetsClient(f"127.0.0.1:{server.port}", token=make_token()) as client:
            with pytest.raises(LikenessError) as raised:
                await client.api.CreateBrand(
                    assets_pb.CreateBrandRequest(brand_id="nul-brand", display_name="Acme\x00Foods")
                )
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    bad_request = raised.value.detail(error_details_pb2.BadRequest)
    assert [violation.field for violation in bad_request.field_violations] == ["display_name"]


async def test_a_non_finite_float_is_invalid_argument_naming_the_field(identity_server, make_token) -> None:
    async with identity_server() as server:
        async with AsyncIdentityClient(f"127.0.0.1:{server.port}", token=make_token()) as client:
            with pytest.raises(LikenessError) as raised:
                await client.api.CompareIdentities(
                    identity_pb.CompareIdentitiesRequest(
                        first_z_id=[float("nan")] + [0.0] * 511, second_z_id=[1.0] + [0.0] * 511
                    )
                )
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    bad_request = raised.value.detail(error_details_pb2.BadRequest)
    assert [violation.field for violation in bad_request.field_violations] == ["first_z_id[0]"]


async def _raw_call(port: int, method: str, payload: bytes, token: str) -> grpc.aio.AioRpcError:
    """A unary call with these exact bytes as its request (what a client without our stubs may send)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(payload, metadata=(("authorization", f"Bearer {token}"),), timeout=10)
    return raised.value


async def test_invalid_utf8_or_broken_bytes_are_invalid_argument_in_every_service(
    assets_server, identity_server, generator_server, make_token
) -> None:
    from likeness.api.generator.v1 import generator_service_pb2 as generator_pb

    cases = [
        (
            assets_server,
            "/likeness.assets.v1.AssetsService/CreateBrand",
            assets_pb.CreateBrandRequest(brand_id="utf-brand", display_name="Acme MARK").SerializeToString(),
            "display_name",
        ),
        (
            identity_server,
            "/likeness.identity.v1.IdentityService/EncodeIdentity",
            identity_pb.EncodeIdentityRequest(
                reference_photos=[identity_pb.ReferencePhoto(image=b"x", label="front MARK")]
            ).SerializeToString(),
            "reference_photos.label",
        ),
        (
            generator_server,
            "/likeness.generator.v1.GeneratorService/SubmitGeneration",
            generator_pb.SubmitGenerationRequest(
                storyboard=generator_pb.Storyboard(shots=[generator_pb.Shot(prompt="a cat MARK")])
            ).SerializeToString(),
            "storyboard.shots.prompt",
        ),
    ]
    for start, method, valid, field in cases:
        assert b"MARK" in valid
        async with start() as server:
            broken_text = await _raw_call(
                server.port, method, valid.replace(b"MARK", b"\xff\xfe\xfd\xfc"), make_token()
            )
            truncated = await _raw_call(server.port, method, valid[:-3], make_token())
            assert await _health(server.port) == SERVING  # still serving
        assert broken_text.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, broken_text.details())
        assert f"{field}: must be valid UTF-8" in broken_text.details(), broken_text.details()
        assert truncated.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, truncated.details())
        assert "is not a valid" in truncated.details()


async def test_a_time_outside_the_timestamp_range_is_invalid_argument_naming_the_field(
    assets_server, make_token
) -> None:
    from google.protobuf import timestamp_pb2

    cases = {
        "year 10000": timestamp_pb2.Timestamp(seconds=253_402_300_800),
        "before year 1": timestamp_pb2.Timestamp(seconds=-62_135_596_801),
        "negative nanos": timestamp_pb2.Timestamp(seconds=0, nanos=-1),
    }
    from tests.assets_support import create_brand

    async with assets_server() as server:
        async with AsyncAssetsClient(f"127.0.0.1:{server.port}", token=make_token()) as client:
            await create_brand(client, "acme")
            for case, stamp in cases.items():
                with pytest.raises(LikenessError) as raised:
                    await client.api.ListAuditEvents(assets_pb.ListAuditEventsRequest(start_time=stamp))
                assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT, (case, raised.value.message)
                bad_request = raised.value.detail(error_details_pb2.BadRequest)
                assert [violation.field for violation in bad_request.field_violations] == ["start_time"]
            in_range = await client.api.ListAuditEvents(
                assets_pb.ListAuditEventsRequest(start_time=timestamp_pb2.Timestamp(seconds=253_402_300_799))
            )
    assert list(in_range.events) == []


async def test_calls_while_a_service_starts_are_unavailable(
    jwt_key: JwtKey, database_url: str, tmp_path, make_token
) -> None:
    from likeness.assets.server import build_spec as build_assets_spec
    from likeness.assets.settings import AssetsSettings

    settings = settings_for(AssetsSettings, jwt_key, database_url=database_url, object_store_dir=tmp_path)
    spec = build_assets_spec(settings)
    dependencies_ready = asyncio.Event()
    real_start = spec.start
    assert real_start is not None

    async def slow_start() -> None:
        await dependencies_ready.wait()
        await real_start()

    spec.start = slow_start
    server = RpcServer(settings, spec)
    port = await server.start()
    try:
        async with AsyncAssetsClient(f"127.0.0.1:{port}", token=make_token()) as client:
            code, message = await _code_of(client.api.GetBrand(assets_pb.GetBrandRequest(brand_id="acme")))
            assert code == grpc.StatusCode.UNAVAILABLE, message
            dependencies_ready.set()
            await server.wait_ready()
            code, _ = await _code_of(client.api.GetBrand(assets_pb.GetBrandRequest(brand_id="acme")))
            assert code == grpc.StatusCode.NOT_FOUND
    finally:
        await server.stop(grace=0)


async def test_page_tokens_are_signed_and_bound_to_the_brand_the_call_and_the_filters(
    assets_server, make_token
) -> None:
    from tests.assets_support import acme_and_globex

    async with assets_server() as server:
        async with acme_and_globex(server, make_token) as (acme, globex):
            for name in ("One", "Two", "Three"):
                await acme.api.CreateCharacter(assets_pb.CreateCharacterRequest(display_name=name))
            first = await acme.api.ListCharacters(assets_pb.ListCharactersRequest(page_size=1))
            token = first.next_page_token
            second = await acme.api.ListCharacters(
                assets_pb.ListCharactersRequest(page_size=1, page_token=token)
            )
            assert second.characters[0].character_id != first.characters[0].character_id
            body, _, signature = token.partition(".")
            forged = {
                "edited position": body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + signature,
                "no signature": body,
                "not a token": "not-a-token",
                "nonsense base64": "!!!.???",
            }
            for case, bad in forged.items():
                code, message = await _code_of(
                    acme.api.ListCharacters(assets_pb.ListCharactersRequest(page_size=1, page_token=bad))
                )
                assert code == grpc.StatusCode.INVALID_ARGUMENT, (case, message)
            another_brand, _ = await _code_of(
                globex.api.ListCharacters(assets_pb.ListCharactersRequest(page_size=1, page_token=token))
            )
            another_call, _ = await _code_of(
                acme.api.ListAuditEvents(assets_pb.ListAuditEventsRequest(page_size=1, page_token=token))
            )
    assert another_brand == another_call == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_token_for_a_brand_nobody_created_is_not_found_on_every_brand_scoped_call(
    assets_server, make_token
) -> None:
    from tests.assets_support import create_brand, upload

    async with assets_server() as server:
        target = f"127.0.0.1:{server.port}"
        async with AsyncAssetsClient(target, token=make_token(brand="ghost")) as ghost:
            refused = {
                "UploadObject": await _code_of(
                    upload(ghost, b"\xff\xd8 not stored", assets_pb.OBJECT_PURPOSE_REFERENCE_PHOTO)
                ),
                "ListCharacters": await _code_of(ghost.api.ListCharacters(assets_pb.ListCharactersRequest())),
                "ListAuditEvents": await _code_of(
                    ghost.api.ListAuditEvents(assets_pb.ListAuditEventsRequest())
                ),
            }
            await create_brand(ghost, "ghost")  # CreateBrand needs no brand, and then the rest works
            listed = await ghost.api.ListCharacters(assets_pb.ListCharactersRequest())
    for method, (code, message) in refused.items():
        assert code == grpc.StatusCode.NOT_FOUND, (method, message)
        assert "brand 'ghost' not found" in message
    assert list(listed.characters) == []
