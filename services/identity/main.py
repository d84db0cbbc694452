"""``likeness serve identity``."""

from likeness.identity.server import build_spec
from likeness.identity.settings import IdentitySettings
from likeness.rpc.server import run


def main() -> None:
    settings = IdentitySettings()
    run(settings, build_spec(settings))
