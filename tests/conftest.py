pytest_plugins = [
    "tests.fixtures.auth",
    "tests.fixtures.postgres",
    "tests.fixtures.ray_serve",
    "tests.fixtures.s3",
    "tests.fixtures.services",
    "tests.fixtures.identity",
    "tests.fixtures.video_model",
]
