"""``likeness serve assets``."""

from likeness.assets.server import build_spec
from likeness.assets.settings import AssetsSettings
from likeness.rpc.server import run


def main() -> None:
    settings = AssetsSettings()
    run(settings, build_spec(settings))
