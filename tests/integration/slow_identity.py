"""An identity server whose CompareIdentities takes ``LIKENESS_TEST_CALL_SECONDS`` — run as a
subprocess by the graceful-shutdown test, through the same bootstrap as the real service."""

from __future__ import annotations

import asyncio
import os

from likeness.api.identity.v1 import identity_service_pb2 as pb
from likeness.api.identity.v1 import identity_service_pb2_grpc
from likeness.identity.server import build_spec
from likeness.identity.settings import IdentitySettings
from likeness.rpc.server import run

CALL_STARTED = "slow call started"


class SlowIdentity(identity_service_pb2_grpc.IdentityServiceServicer):
    async def CompareIdentities(self, request, context):
        print(CALL_STARTED, flush=True)  # what the test waits on before it sends SIGTERM
        await asyncio.sleep(float(os.environ["LIKENESS_TEST_CALL_SECONDS"]))  # the slow call itself
        return pb.CompareIdentitiesResponse(cosine_similarity=1.0)


def main() -> None:
    settings = IdentitySettings()
    spec = build_spec(settings)
    servicer = SlowIdentity()
    spec.start = spec.stop = None  # no face models: the slow call is all this server does
    spec.register = lambda server: identity_service_pb2_grpc.add_IdentityServiceServicer_to_server(
        servicer, server
    )
    run(settings, spec)


if __name__ == "__main__":
    main()
