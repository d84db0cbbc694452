"""Starting the generator's local Ray: one more try when the head's processes do not come up."""

from __future__ import annotations

from typing import Any

import pytest
import ray

from likeness.generator import serve_app


class FakeRay:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.inits = 0
        self.shutdowns = 0
        self.up = False

    def is_initialized(self) -> bool:
        return self.up

    def init(self, **kwargs: Any) -> None:
        self.inits += 1
        if self.inits <= self.failures:
            raise RuntimeError("Timed out waiting for file gcs_server_port")
        self.up = True

    def shutdown(self) -> None:
        self.shutdowns += 1


@pytest.fixture
def fake_ray(monkeypatch: pytest.MonkeyPatch) -> Any:
    def install(failures: int) -> FakeRay:
        fake = FakeRay(failures)
        for name in ("is_initialized", "init", "shutdown"):
            monkeypatch.setattr(ray, name, getattr(fake, name))
        # Set, then removed: the test's own setting is undone afterwards either way.
        monkeypatch.setenv("RAY_gcs_server_port_wait_time_s", "0")
        monkeypatch.delenv("RAY_gcs_server_port_wait_time_s")
        return fake

    return install


def test_a_head_that_does_not_come_up_is_started_once_more(fake_ray: Any) -> None:
    fake = fake_ray(failures=1)
    serve_app.start_local_ray(2)
    assert (fake.inits, fake.shutdowns, fake.up) == (2, 1, True)


def test_a_head_that_fails_twice_reports_the_error(fake_ray: Any) -> None:
    fake = fake_ray(failures=2)
    with pytest.raises(RuntimeError, match="gcs_server_port"):
        serve_app.start_local_ray(2)
    assert (fake.inits, fake.shutdowns) == (2, 2)


def test_the_head_waits_longer_than_rays_default_for_its_gcs(fake_ray: Any) -> None:
    import os

    fake_ray(failures=0)
    serve_app.start_local_ray(2)
    assert os.environ["RAY_gcs_server_port_wait_time_s"] == serve_app.LOCAL_GCS_PORT_WAIT_S
