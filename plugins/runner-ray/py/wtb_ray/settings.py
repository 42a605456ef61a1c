"""What the driver decides before it touches Ray: where the cluster is, how
many actors it may keep, and the runtime_env each actor gets. Kept free of
Ray imports so it can be tested without a cluster."""

import ipaddress
import json
import math
import os
import socket

# Where `ray start` records the address of the cluster running on this
# machine; ray.init(address="auto") reads the same file.
CURRENT_CLUSTER_FILE = os.path.join(
    os.environ.get("RAY_TMPDIR", "/tmp"), "ray", "ray_current_cluster"
)


def resolve_address(address, environ=None, current_cluster_file=CURRENT_CLUSTER_FILE):
    """Returns (address for ray.init, HOST:PORT to probe or None).

    "local" starts a private Ray for the batch (ray.init with no address);
    "auto" is $RAY_ADDRESS, else the cluster `ray start` recorded here;
    "ray://..." is a Ray Client address; anything else is HOST:PORT of a GCS.
    """
    environ = os.environ if environ is None else environ
    address = (address or "").strip()
    if address == "local":
        return None, None
    if address == "auto":
        found = environ.get("RAY_ADDRESS", "").strip()
        if not found:
            try:
                with open(current_cluster_file) as f:
                    found = f.read().strip()
            except OSError:
                found = ""
        if not found:
            raise ConnectionError(
                "no Ray cluster is running on this machine (ray_address = \"auto\"): "
                "start one with `ray start --head`, or set ray_address"
            )
        address = found
    if address.startswith("ray://"):
        return address, address[len("ray://"):]
    return address, address


def split_host_port(hostport, default_port=6379):
    host, sep, port = hostport.rpartition(":")
    if not sep:
        return hostport, default_port
    host = host.strip("[]")
    try:
        return host, int(port)
    except ValueError:
        raise ValueError(f"{hostport!r} is not HOST:PORT")


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def probe(hostport, timeout):
    """Fails fast, with the reason, when nothing listens at HOST:PORT —
    ray.init would otherwise retry for a minute or more."""
    host, port = split_host_port(hostport)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as e:
        reason = e.strerror or str(e) or type(e).__name__
        raise ConnectionError(f"cannot reach the Ray cluster at {hostport}: {reason}") from None


def actor_budget(actors, max_pending, num_cpus, cluster_cpus):
    """How many execution actors the driver keeps in all: the runner block's
    `actors`, or what the cluster's CPUs allow at num_cpus each; never more
    than the executions wtb hands over at once, never less than one."""
    if actors and actors > 0:
        return max(1, min(actors, max_pending))
    if num_cpus and num_cpus > 0 and cluster_cpus:
        fit = int(math.floor(cluster_cpus / num_cpus + 1e-9))
    else:
        fit = max_pending
    return max(1, min(fit, max_pending))


def compose_runtime_env(user_env, modules):
    """The actor's runtime_env: the user's (runner block merged with the
    variant's, by the plugin) plus the modules the actor itself needs."""
    env = dict(user_env or {})
    extra = list(modules)
    if env.get("py_modules"):
        env["py_modules"] = list(env["py_modules"]) + [m for m in extra if m not in env["py_modules"]]
    else:
        env["py_modules"] = extra
    return env


def env_key(env):
    return json.dumps(env or {}, sort_keys=True, separators=(",", ":"))


def local_paths(env):
    """The working_dir and py_modules entries of a runtime_env that are local
    paths rather than URIs."""
    out = []
    wd = env.get("working_dir")
    if isinstance(wd, str) and "://" not in wd:
        out.append(wd)
    for m in env.get("py_modules") or []:
        if isinstance(m, str) and "://" not in m and ("/" in m or "." in m):
            out.append(m)
    return out


def token_available(environ=None, home=None):
    """Whether a Ray authentication token is at hand the way the ray CLI
    looks for one: $RAY_AUTH_TOKEN, the file $RAY_AUTH_TOKEN_PATH names, or
    ~/.ray/auth_token."""
    environ = os.environ if environ is None else environ
    if environ.get("RAY_AUTH_TOKEN"):
        return True
    path = environ.get("RAY_AUTH_TOKEN_PATH") or os.path.join(home or os.path.expanduser("~"), ".ray", "auth_token")
    return os.path.isfile(path)
