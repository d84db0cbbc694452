"""``likeness serve generator``."""

from likeness.generator.server import build_spec
from likeness.generator.settings import GeneratorSettings
from likeness.rpc.server import run


def main() -> None:
    settings = GeneratorSettings()
    run(settings, build_spec(settings))
