"""SDK behaviour a caller relies on: retries only where safe, deadlines, one error type."""

from __future__ import annotations

import asyncio

import grpc
from google.rpc import error_details_pb2

from likeness.api.assets.v1 import assets_service_pb2 as pb
from likeness.api.assets.v1 import assets_service_pb2_grpc
from likeness.api.common.v1 import usage_pb2
from likeness.assets.server import ROLES, SERVICE
from likeness.assets.settings import AssetsSettings
from likeness.errors import FailedPrecondition, PreconditionViolation, Unavailable
from likeness.rpc.server import ServiceSpec
from likeness.sdk import AssetsClient, AsyncAssetsClient, LikenessError
from tests.fixtures.services import running, settings_for


class FlakyAssets(assets_service_pb2_grpc.AssetsServiceServicer):
    """Fails each call's first attempts with UNAVAILABLE; counts attempts per method."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts: dict[str, int] = {}

    def _attempt(self, method: str) -> None:
        self.attempts[method] = self.attempts.get(method, 0) + 1
        if self.attempts[method] <= self.failures:
            raise Unavailable("registry is restarting")

    async def GetBrand(self, request, context):
        self._attempt("GetBrand")
        return pb.GetBrandResponse(brand=pb.Brand(brand_id="acme", display_name="Acme"))

    async def CreateBrand(self, request, context):
        self._attempt("CreateBrand")
        return pb.CreateBrandResponse(brand=pb.Brand(brand_id="acme"))

    async def GetCharacter(self, request, context):
        await asyncio.sleep(2)  # a slow handler (what the deadline test calls), not a wait
        return pb.GetCharacterResponse()

    async def CheckConsent(self, request, context):
        raise FailedPrecondition(
            "no consent covers this use",
            [PreconditionViolation("CONSENT", f"character/{request.character_id}", "consent expired")],
        )


def _spec(servicer: FlakyAssets) -> ServiceSpec:
    return ServiceSpec(
        name=SERVICE.full_name,
        register=lambda server: assets_service_pb2_grpc.add_AssetsServiceServicer_to_server(servicer, server),
        method_roles=ROLES,
    )


async def test_idempotent_calls_are_retried_on_unavailable_and_others_are_not(jwt_key, make_token) -> None:
    servicer = FlakyAssets(failures=2)
    async with running(settings_for(AssetsSettings, jwt_key), _spec(servicer)) as server:
        async with AsyncAssetsClient(f"127.0.0.1:{server.port}", token=make_token()) as client:
            response = await client.api.GetBrand(pb.GetBrandRequest())
            assert response.brand.display_name == "Acme"
            try:
                await client.api.CreateBrand(pb.CreateBrandRequest(brand_id="acme", display_name="Acme"))
                raise AssertionError("CreateBrand should have failed")
            except LikenessError as error:
                assert error.code == grpc.StatusCode.UNAVAILABLE
    assert servicer.attempts == {"GetBrand": 3, "CreateBrand": 1}


def test_blocking_client_applies_its_default_deadline_and_parses_details(jwt_key, make_token) -> None:
    servicer = FlakyAssets(failures=0)

    async def serve_and_call() -> None:
        async with running(settings_for(AssetsSettings, jwt_key), _spec(servicer)) as server:
            target = f"127.0.0.1:{server.port}"

            def call() -> None:
                with AssetsClient(target, token=make_token(), timeout_s=0.3) as client:
                    try:
                        client.api.GetCharacter(
                            pb.GetCharacterRequest(character_id="00000000-0000-4000-8000-000000000001")
                        )
                        raise AssertionError("GetCharacter should have timed out")
                    except LikenessError as error:
                        assert error.code == grpc.StatusCode.DEADLINE_EXCEEDED
                    try:
                        client.api.CheckConsent(
                            pb.CheckConsentRequest(
                                character_id="00000000-0000-4000-8000-000000000001",
                                purpose=usage_pb2.USAGE_PURPOSE_ADVERTISING,
                                channel=usage_pb2.USAGE_CHANNEL_SOCIAL,
                                territory="DE",
                            )
                        )
                        raise AssertionError("CheckConsent should have failed")
                    except LikenessError as error:
                        assert error.code == grpc.StatusCode.FAILED_PRECONDITION
                        failure = error.detail(error_details_pb2.PreconditionFailure)
                        assert failure is not None
                        assert failure.violations[0].subject.startswith("character/")
                        assert error.request_id

            await asyncio.to_thread(call)

    asyncio.run(serve_and_call())
