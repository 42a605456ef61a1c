import socket

import pytest

from wtb_ray import settings


def test_auto_reads_the_cluster_ray_start_recorded(tmp_path):
    f = tmp_path / "ray_current_cluster"
    f.write_text("127.0.0.1:6399\n")
    assert settings.resolve_address("auto", environ={}, current_cluster_file=str(f)) == ("127.0.0.1:6399", "127.0.0.1:6399")
    # $RAY_ADDRESS wins, as in ray.init.
    assert settings.resolve_address("auto", environ={"RAY_ADDRESS": "10.0.0.1:6379"}, current_cluster_file=str(f))[0] == "10.0.0.1:6379"


def test_auto_without_a_cluster_says_how_to_start_one(tmp_path):
    with pytest.raises(ConnectionError, match="ray start --head"):
        settings.resolve_address("auto", environ={}, current_cluster_file=str(tmp_path / "none"))


def test_other_addresses():
    assert settings.resolve_address("local") == (None, None)
    assert settings.resolve_address("ray://head:10001") == ("ray://head:10001", "head:10001")
    assert settings.resolve_address(" head:6379 ") == ("head:6379", "head:6379")
    assert settings.split_host_port("[::1]:6379") == ("::1", 6379)
    assert settings.split_host_port("head") == ("head", 6379)
    assert settings.is_loopback("127.0.0.1") and settings.is_loopback("localhost") and settings.is_loopback("::1")
    assert not settings.is_loopback("10.1.2.3") and not settings.is_loopback("head")


def test_probe_names_the_address_and_the_reason():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(ConnectionError, match=f"cannot reach the Ray cluster at 127.0.0.1:{port}: Connection refused"):
        settings.probe(f"127.0.0.1:{port}", 2)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        settings.probe("127.0.0.1:%d" % listener.getsockname()[1], 2)


@pytest.mark.parametrize(
    "actors,pending,cpus,cluster,want",
    [
        (0, 100, 1, 8, 8),  # what the CPUs allow
        (0, 4, 0.5, 8, 4),  # never more than wtb hands over at once
        (0, 100, 0.5, 2, 4),
        (0, 100, 4, 2, 1),  # at least one, even if it will wait for resources
        (0, 16, 0, 2, 16),  # no CPU request: as many as pending
        (3, 100, 1, 2, 3),  # the runner block's actors win
        (30, 8, 1, 64, 8),
    ],
)
def test_actor_budget(actors, pending, cpus, cluster, want):
    assert settings.actor_budget(actors, pending, cpus, cluster) == want


def test_compose_runtime_env_adds_our_modules_without_touching_the_users():
    user = {"env_vars": {"A": "1"}, "py_modules": ["s3://b/m.zip"]}
    env = settings.compose_runtime_env(user, ["/tmp/wtb_ray", "/tmp/ship/wtb_ray_executor"])
    assert env == {"env_vars": {"A": "1"}, "py_modules": ["s3://b/m.zip", "/tmp/wtb_ray", "/tmp/ship/wtb_ray_executor"]}
    assert user["py_modules"] == ["s3://b/m.zip"]
    assert settings.compose_runtime_env(None, ["/x"]) == {"py_modules": ["/x"]}
    assert settings.env_key({"b": 1, "a": 2}) == settings.env_key({"a": 2, "b": 1})


def test_reply_id_reads_only_the_head_of_a_reply():
    from wtb_ray.actor import _reply_id

    assert _reply_id(b'{"id":"a=b/c1/0#1","events":[],"outcome":{}}\n') == "a=b/c1/0#1"
    # An escaped id falls back to parsing the line.
    assert _reply_id(b'{"id":"q\\"x#1","events":[]}\n') == 'q"x#1'
    assert _reply_id(b"not json\n") is None


def test_token_is_found_where_the_ray_cli_looks(tmp_path):
    assert not settings.token_available(environ={}, home=str(tmp_path))
    assert settings.token_available(environ={"RAY_AUTH_TOKEN": "t"}, home=str(tmp_path))
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("t")
    assert settings.token_available(environ={}, home=str(tmp_path))
    assert not settings.token_available(environ={"RAY_AUTH_TOKEN_PATH": str(tmp_path / "none")}, home=str(tmp_path))
