import os

from wtb_ray import driver


def test_the_shipped_executor_is_removed_when_the_driver_exits(tmp_path):
    binary = tmp_path / "wtb-runner-ray"
    binary.write_bytes(b"#!/bin/sh\n")
    module = driver.ship_dir(str(binary))
    root = os.path.dirname(module)
    assert os.path.isfile(os.path.join(module, "wtb-runner-ray"))
    assert os.path.isfile(os.path.join(module, "__init__.py"))
    driver.remove_private()
    assert not os.path.exists(root)
    assert driver.PRIVATE_DIRS == []
    assert binary.exists()  # the plugin's own binary stays
