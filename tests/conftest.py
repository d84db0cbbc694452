import pytest

pytest_plugins = [
    "tests.fixtures.auth",
    "tests.fixtures.postgres",
    "tests.fixtures.ray_serve",
    "tests.fixtures.s3",
    "tests.fixtures.services",
    "tests.fixtures.identity",
    "tests.fixtures.video_model",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz-long",
        action="store_true",
        default=False,
        help="tests/integration/test_fuzz.py: at least 10,000 generated requests instead of about a thousand",
    )
