import sys
import types

import pytest

from wtb_ray import driver, settings


class FlakyRay(types.ModuleType):
    """Stands in for ray.init at the one point the real head cannot be made to
    fail on demand: its client proxy missing the deadline to start a client
    server, as it does on a busy machine."""

    def __init__(self, failures, message):
        super().__init__("ray")
        self.failures, self.message, self.inits, self.shutdowns = failures, message, 0, 0

    def init(self, **kwargs):
        self.inits += 1
        if self.inits <= self.failures:
            raise ConnectionError(self.message)

    def shutdown(self):
        self.shutdowns += 1


@pytest.fixture
def flaky(monkeypatch):
    monkeypatch.setattr(settings, "probe", lambda *a, **k: None)
    monkeypatch.setattr(driver.time, "sleep", lambda s: None)

    def install(failures, message="Initialization failure from server: RuntimeError: Starting Ray client server failed."):
        fake = FlakyRay(failures, message)
        monkeypatch.setitem(sys.modules, "ray", fake)
        return fake

    return install


def test_a_client_server_that_did_not_start_is_tried_again(flaky):
    fake = flaky(2)
    assert driver.connect({"address": "ray://127.0.0.1:10001"}) is fake
    assert fake.inits == 3 and fake.shutdowns == 2


def test_the_last_attempt_says_why(flaky):
    fake = flaky(driver.CLIENT_ATTEMPTS)
    with pytest.raises(ConnectionError, match="cannot connect to the Ray cluster at ray://127.0.0.1:10001: .*Starting Ray client server failed"):
        driver.connect({"address": "ray://127.0.0.1:10001"})
    assert fake.inits == driver.CLIENT_ATTEMPTS


def test_other_connection_errors_are_not_retried(flaky):
    fake = flaky(1, "Connection refused")
    with pytest.raises(ConnectionError, match="Connection refused"):
        driver.connect({"address": "ray://127.0.0.1:10001"})
    assert fake.inits == 1
