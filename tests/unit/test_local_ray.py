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
            # The two ways a local head has been seen to fail on a busy machine.
            if self.inits % 2:
                raise RuntimeError("Timed out waiting for file gcs_server_port")
            raise Exception("The current node timed out during startup.")
        self.up = True

    def shutdown(self) -> None:
        self.shutdowns += 1


@pytest.fixture
def fake_ray(monkeypatch: pytest.MonkeyPatch) -> Any:
    def install(failures: int) -> FakeRay:
        fake = FakeRay(failures)
        for name in ("is_initialized", "init", "shutdown"):
            monkeypatch.setattr(ray, name, getattr(fake, name))
        return fake

    return install


def test_a_head_that_does_not_come_up_is_started_again(fake_ray: Any) -> None:
    fake = fake_ray(failures=2)
    serve_app.start_local_ray(2)
    assert (fake.inits, fake.shutdowns, fake.up) == (3, 2, True)


def test_a_head_that_never_comes_up_reports_the_error(fake_ray: Any) -> None:
    fake = fake_ray(failures=3)
    with pytest.raises(RuntimeError, match="gcs_server_port"):
        serve_app.start_local_ray(2)
    assert (fake.inits, fake.shutdowns) == (3, 3)


def test_a_running_head_is_used_as_it_is(fake_ray: Any) -> None:
    fake = fake_ray(failures=0)
    fake.up = True
    serve_app.start_local_ray(2)
    assert fake.inits == 0
