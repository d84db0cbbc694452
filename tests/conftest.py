pytest_plugins = [
    "tests.fixtures.auth",
    "tests.fixtures.postgres",
    "tests.fixtures.s3",
    "tests.fixtures.services",
    "tests.fixtures.video_model",
]
