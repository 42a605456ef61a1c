"""The Ray driver of wtb-runner-ray.

Protocol (one JSON object per line): the plugin writes
  {"op": "configure", "config": {...}}            first, once
  {"op": "run", "id": N, "call_id": "...", "env_key": "...", "runtime_env": {...}}
  PAYLOAD                                          the node server call, one raw line
                                                   (runtime_env: the first time a key is used)
  {"op": "cancel", "id": N}
and reads
  {"op": "ready", "info": {...}} or {"op": "fatal", "message": "..."}
  {"op": "result", "id": N, "actor": "..."}
  PAYLOAD                                          the node server reply, one raw line
  {"op": "lost", "id": N, "message": "...", "retryable": true|false}
  {"op": "log", "level": "...", "message": "..."}
Closing stdin stops the driver: its actors are killed and it disconnects.
"""

import asyncio
import json
import os
import sys
import threading
import time
import traceback

from . import pool as poolmod
from . import settings

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
STARTED = time.monotonic()
PRIVATE_FILES = []  # removed when the driver exits (remove_private)
PRIVATE_DIRS = []  # the same, for directories


class Protocol:
    """Lines to and from the plugin. Messages go out on the real stdout;
    everything else that prints (Ray included) goes to stderr. Lines are read
    and written in bulk, once per turn of the event loop: at hundreds of
    executions a second, a system call and a thread hand-off per line cost
    more than the rest of the driver."""

    def __init__(self):
        self._out = os.dup(1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        self._in = sys.stdin.fileno()
        self._inbuf = b""
        self._pending = []
        self._loop = None
        self._lock = threading.Lock()

    def send(self, raw=None, **msg):
        """Sends msg, followed by raw (a line without its newline) when given:
        states are passed through without being escaped into JSON strings."""
        line = json.dumps(msg, separators=(",", ":")).encode() + b"\n"
        if raw is not None:
            line += raw + b"\n"
        loop = self._loop
        if loop is None:
            with self._lock:
                _write_all(self._out, line)
            return
        if not self._pending:
            loop.call_soon(self.flush)
        self._pending.append(line)

    def flush(self):
        data, self._pending = b"".join(self._pending), []
        with self._lock:
            _write_all(self._out, data)

    def log(self, level, message):
        self.send(op="log", level=level, message=message)

    def readline(self):
        """The next line, blocking (before the event loop runs)."""
        while b"\n" not in self._inbuf:
            chunk = os.read(self._in, 1 << 16)
            if not chunk:
                return b""
            self._inbuf += chunk
        line, _, self._inbuf = self._inbuf.partition(b"\n")
        return line

    def serve(self, loop, handle):
        """Calls handle(line) for every line until stdin closes; returns a
        future done then. Sends are batched from now on."""
        self._loop = loop
        done = loop.create_future()
        os.set_blocking(self._in, False)
        buffered = self._inbuf.split(b"\n")
        self._inbuf = buffered.pop()
        for line in buffered:
            handle(line)

        def readable():
            try:
                chunk = os.read(self._in, 1 << 20)
            except BlockingIOError:
                return
            if not chunk:
                loop.remove_reader(self._in)
                if self._inbuf:
                    handle(self._inbuf)
                done.set_result(None)
                return
            if b"\n" not in chunk:
                self._inbuf += chunk
                return
            lines = (self._inbuf + chunk).split(b"\n")
            self._inbuf = lines.pop()
            for line in lines:
                handle(line)

        loop.add_reader(self._in, readable)
        return done

    def stop(self):
        if self._loop is not None and self._pending:
            self.flush()
        self._loop = None


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def read_config(proto):
    line = proto.readline()
    if not line:
        sys.exit(0)
    msg = json.loads(line)
    if msg.get("op") != "configure":
        proto.send(op="fatal", message=f"the Ray driver expected a configure line, got {msg.get('op')!r}")
        sys.exit(2)
    return msg["config"]


# A Ray Client connection whose server the head failed to start is tried this
# many times in all.
CLIENT_ATTEMPTS = 3
CLIENT_SERVER_START_FAILED = "Starting Ray client server failed"


def connect(cfg):
    """Connects to the cluster; raises ConnectionError with one clear line."""
    address, probe = settings.resolve_address(cfg["address"])
    if probe:
        host, _ = settings.split_host_port(probe)
        settings.probe(probe, min(5.0, cfg.get("connect_timeout_s") or 5.0))
        if settings.is_loopback(host):
            # A head started on loopback (`ray start --node-ip-address
            # 127.0.0.1`): without this Ray rewrites 127.0.0.1 to this
            # machine's outward address and never finds it.
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    if address is None and "RAY_AUTH_MODE" not in os.environ and not settings.token_available():
        # A private Ray gets token authentication with a token of its own:
        # left to itself, Ray would write one to ~/.ray/auth_token, which
        # turns token authentication on for every later `ray start` there.
        import secrets
        import tempfile

        fd, path = tempfile.mkstemp(prefix="wtb-ray-token-")
        os.write(fd, secrets.token_hex(32).encode())
        os.close(fd)
        os.environ["RAY_AUTH_MODE"], os.environ["RAY_AUTH_TOKEN_PATH"] = "token", path
        PRIVATE_FILES.append(path)
    try:
        import ray
    except ImportError as e:
        raise ConnectionError(
            f"{sys.executable} cannot import ray ({e}); install it with "
            f"`{sys.executable} -m pip install 'ray[default]==2.60.0'` or set python in the runner block"
        ) from None
    kwargs = dict(namespace=cfg.get("namespace") or "wtb", logging_level="WARNING", log_to_driver=False)
    if address is None:
        # A private Ray for this batch ("local" never joins a running one).
        ray.init(address="local", include_dashboard=False, **kwargs)
        return ray
    if address.startswith("ray://"):
        # Ray Client: the driver runs on the head, so the modules actors need
        # go with the job, uploaded by the client; actors name their URIs.
        # The head's client proxy starts a server process per client; on a
        # busy head that start can miss the proxy's own deadline ("Starting
        # Ray client server failed"), which the next attempt usually makes.
        for attempt in range(1, CLIENT_ATTEMPTS + 1):
            try:
                ray.init(address=address, runtime_env={"py_modules": own_modules(cfg)}, **kwargs)
                return ray
            except ConnectionError as e:
                if attempt == CLIENT_ATTEMPTS or CLIENT_SERVER_START_FAILED not in str(e):
                    raise ConnectionError(f"cannot connect to the Ray cluster at {address}: {e}") from None
                print(f"wtb-ray: the Ray client server did not start (attempt {attempt} of {CLIENT_ATTEMPTS}); trying again",
                      file=sys.stderr, flush=True)
                try:
                    ray.shutdown()
                except Exception:
                    pass
                time.sleep(2 * attempt)
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as e:
        hint = ""
        if os.environ.get("RAY_AUTH_MODE") != "token":
            hint = (" (if the cluster uses token authentication, set RAY_AUTH_MODE=token and the token —"
                    " RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token — in wtb's environment)")
        raise ConnectionError(f"cannot connect to the Ray cluster at {address}: {e}{hint}") from None
    return ray


def own_modules(cfg):
    """The local directories every actor imports: this package and, when
    the executor is shipped, a module holding the plugin's binary."""
    modules = [PACKAGE_DIR]
    if cfg.get("ship"):
        modules.append(ship_dir(cfg["executor"]))
    return modules


def ship_dir(binary):
    """A py_module holding this plugin's binary, uploaded to the cluster once
    per binary (Ray keys uploads by content)."""
    import shutil
    import tempfile

    # Beside the plugin's socket, in the directory the wtb host made for it
    # (PLUGIN_UNIX_SOCKET_DIR, inherited from the plugin): the host removes
    # that when it stops the plugin, so a driver killed outright (which
    # cannot remove it itself) leaves nothing either.
    root = tempfile.mkdtemp(prefix="wtb-ray-ship-", dir=os.environ.get("PLUGIN_UNIX_SOCKET_DIR") or None)
    # Ray reads the module when an actor that names it is created, so it
    # stays until the driver exits; left behind it kept a link to every
    # plugin binary a batch ever shipped.
    PRIVATE_DIRS.append(root)
    d = os.path.join(root, "wtb_ray_executor")
    os.makedirs(d)
    with open(os.path.join(d, "__init__.py"), "w") as f:
        f.write('"""wtb\'s node executor, shipped with the job."""\n')
    dst = os.path.join(d, "wtb-runner-ray")
    try:
        os.link(binary, dst)
    except OSError:
        shutil.copyfile(binary, dst)
    os.chmod(dst, 0o755)
    return d


class Driver:
    def __init__(self, proto, cfg, ray):
        self.proto = proto
        self.cfg = cfg
        self.ray = ray
        self.tasks = {}  # id -> asyncio.Task
        self.running = {}  # id -> (slot, call_id)
        self.handles = set()
        self.envs = {}  # env key -> runtime_env ready for actors
        self.known_envs = {}  # env key -> runtime_env as the plugin sent it
        self.awaiting = None  # a run whose payload line comes next
        self.client = cfg["address"].startswith("ray://")
        if self.client:
            self.modules = list(ray.get_runtime_context().runtime_env.get("py_modules") or [])
        else:
            self.modules = own_modules(cfg)
        self.executor = "ship" if cfg.get("ship") else cfg["executor"]
        self.base_env = cfg.get("runtime_env") or {}
        cpus = ray.cluster_resources().get("CPU", 0)
        self.budget = settings.actor_budget(cfg.get("actors") or 0, cfg["max_pending"], cfg.get("num_cpus") or 0, cpus)
        self.pools = poolmod.ActorPools(self.budget, cfg.get("max_restarts", 0), self._create, self._kill)
        remote_cls = ray.remote(_actor_class())
        self.actor_cls = remote_cls

    def check_resources(self):
        """An actor no node can hold would wait forever: say so now."""
        nodes = [n for n in self.ray.nodes() if n.get("Alive")]
        most_cpus = max((n.get("Resources", {}).get("CPU", 0) for n in nodes), default=0)
        most_memory = max((n.get("Resources", {}).get("memory", 0) for n in nodes), default=0)
        cpus, memory = self.cfg.get("num_cpus") or 0, self.cfg.get("memory_bytes") or 0
        if cpus > most_cpus:
            raise ConnectionError(f"num_cpus_per_task = {cpus:g}, but no node of the Ray cluster has more than {most_cpus:g} CPUs")
        if memory > most_memory:
            raise ConnectionError(f"memory_per_task_gb = {memory / (1 << 30):g}, but no node of the Ray cluster has more than "
                                  f"{most_memory / (1 << 30):.1f} GiB for tasks")

    async def start_actors(self):
        """Starts the actors of the runner's own environment before wtb sends
        work, so an actor that cannot start (executor missing on the nodes,
        runtime_env failing) is one clear error now, and the first executions
        do not wait for actors to boot. Actors still starting after the
        connect timeout (a busy cluster) keep starting in the background."""
        key = self.cfg.get("base_env_key") or ""
        try:
            slots = self.pools.prewarm(key, None, self.budget)
        except poolmod.EnvironmentBroken as e:
            raise ConnectionError(str(e)) from None
        pings = [asyncio.ensure_future(self._ping(s)) for s in slots]
        timeout = self.cfg.get("connect_timeout_s") or 60
        # The first actor up (or failing) decides; the others get a moment
        # more, then start in the background while work flows to those up.
        timeout = max(1.0, timeout - (time.monotonic() - STARTED))
        done, pending = await asyncio.wait(pings, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if pending and done:
            more, pending = await asyncio.wait(pending, timeout=2)
            done |= more
        for p in pending:  # their failures show on the executions they get
            p.add_done_callback(lambda f: f.cancelled() or f.exception())
        for slot in slots:
            self.pools.release(slot)
        errors = [p.exception() for p in done if p.exception() is not None]
        if errors:
            raise ConnectionError(f"the Ray execution actors could not start: {_first_line(errors[0])}")
        if not done:
            # A busy cluster, or a runtime_env still installing: work queues
            # in Ray until the actors are up.
            self.proto.log("warn", f"no Ray execution actor is up after {timeout:.0f}s (the cluster has "
                           f"{self.ray.available_resources().get('CPU', 0):g} CPUs free, each actor asks for "
                           f"{self.cfg.get('num_cpus') or 0:g}); executions wait for them")
        self.started = len(done)

    async def _ping(self, slot):
        return await slot.handle.ping.remote()

    def info(self):
        ray = self.ray
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        return {
            "ray_version": ray.__version__,
            "cpus": ray.cluster_resources().get("CPU", 0),
            "nodes": len(nodes),
            "actors": self.budget,
            "actors_started": getattr(self, "started", 0),
            "executor": self.executor,
        }

    def _runtime_env(self, key, env):
        """The actor's runtime_env with local directories (our modules, a
        variant's working_dir or py_modules) uploaded to the cluster, as
        ray.init does for a job's: actors may only name URIs. Ray keys the
        uploads by content, so an unchanged directory is not sent twice."""
        ready = self.envs.get(key)
        if ready is not None:
            return ready
        runtime_env = settings.compose_runtime_env(env if env is not None else self.base_env, self.modules)
        if self.client:
            local = settings.local_paths(runtime_env)
            if local:
                raise poolmod.EnvironmentBroken(
                    f"through Ray Client (ray://) a runtime_env can only name URIs, not the local paths {', '.join(local)}: "
                    "use ray_address = \"HOST:PORT\" from a machine of the cluster, or upload them yourself")
            self.envs[key] = runtime_env
            return runtime_env
        try:
            from ray._private.runtime_env.py_modules import upload_py_modules_if_needed
            from ray._private.runtime_env.working_dir import upload_working_dir_if_needed

            scratch = self.ray._private.worker.global_worker.node.get_runtime_env_dir_path()
        except Exception as e:  # Ray Client, or a Ray whose internals moved
            raise poolmod.EnvironmentBroken(
                f"cannot upload local directories of the runtime_env from this driver ({type(e).__name__}: {e}); "
                "use ray_address = \"HOST:PORT\" with ray 2.60.0, and executor = the path of wtb-runner-ray on the nodes"
            ) from None
        import logging

        quiet = logging.getLogger("wtb_ray.upload")
        runtime_env = upload_py_modules_if_needed(runtime_env, include_gitignore=True, scratch_dir=scratch, logger=quiet)
        runtime_env = upload_working_dir_if_needed(runtime_env, include_gitignore=True, scratch_dir=scratch, logger=quiet)
        runtime_env.pop("excludes", None)
        self.envs[key] = runtime_env
        return runtime_env

    def _create(self, key, env):
        runtime_env = self._runtime_env(key, env)
        opts = dict(
            num_cpus=self.cfg.get("num_cpus") or 0,
            max_restarts=self.cfg.get("max_restarts", 0),
            max_task_retries=0,
            max_concurrency=2,  # run and cancel
            runtime_env=runtime_env,
        )
        if self.cfg.get("memory_bytes"):
            opts["memory"] = self.cfg["memory_bytes"]
        handle = self.actor_cls.options(**opts).remote(self.executor)
        self.handles.add(handle)
        return handle, ""

    def _kill(self, handle):
        self.handles.discard(handle)
        try:
            self.ray.kill(handle, no_restart=True)
        except Exception:
            pass

    async def run_safely(self, msg):
        """Every run is answered: a bug here must not leave the plugin
        waiting for an answer that never comes."""
        try:
            await self.run(msg)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            traceback.print_exc()
            self.running.pop(msg["id"], None)
            self.proto.send(op="lost", id=msg["id"], retryable=True,
                            message=f"the Ray driver failed running this execution: {type(e).__name__}: {e}")

    async def run(self, msg):
        mid = msg["id"]
        ray = self.ray
        key = msg.get("env_key") or ""
        env = self.known_envs.get(key)
        try:
            slot = await self.pools.acquire(key, env)
        except poolmod.EnvironmentBroken as e:
            self.proto.send(op="lost", id=mid, retryable=False, message=str(e))
            return
        except Exception as e:
            self.proto.send(op="lost", id=mid, retryable=True, message=f"no Ray actor for this execution: {e}")
            return
        self.running[mid] = (slot, msg.get("call_id", ""))
        try:
            line, worker = await slot.handle.run.remote(msg.get("call_id", ""), msg["payload"])
        except ray.exceptions.RuntimeEnvSetupError as e:
            text = _first_line(e)
            self.pools.broken(slot, f"the Ray runtime_env of this variant could not be set up: {text}")
            self.proto.send(op="lost", id=mid, retryable=False, message=f"the Ray runtime_env of this variant could not be set up: {text}")
            return
        except ray.exceptions.RayActorError as e:
            if _creation_failed(e):
                text = _first_line(e)
                self.pools.broken(slot, f"the Ray execution actor could not start: {text}")
                self.proto.send(op="lost", id=mid, retryable=False, message=f"the Ray execution actor could not start: {text}")
                return
            retired = self.pools.died(slot)
            what = "retired after dying more than max_retries times" if retired else "Ray restarts it"
            self.proto.log("warn", f"a Ray execution actor died running an execution ({what}): {_first_line(e)}")
            self.proto.send(op="lost", id=mid, retryable=True,
                            message=f"the Ray actor running this execution died ({what}): {_first_line(e)}")
            return
        except ray.exceptions.RayTaskError as e:
            # The node server died under the call: the actor is fine and
            # starts a new one for the next call.
            self.pools.release(slot)
            self.proto.send(op="lost", id=mid, retryable=True, message=_first_line(e))
            return
        except Exception as e:
            self.pools.release(slot)
            self.proto.send(op="lost", id=mid, retryable=True, message=f"{type(e).__name__}: {_first_line(e)}")
            return
        finally:
            self.running.pop(mid, None)
        self.pools.release(slot)
        self.proto.send(op="result", id=mid, actor=worker, raw=line)

    def cancel(self, mid):
        running = self.running.get(mid)
        if running is not None:
            slot, call_id = running
            slot.handle.cancel.remote(call_id)
            return
        task = self.tasks.get(mid)
        if task is not None:
            task.cancel()  # still waiting for an actor

    def handle(self, line):
        if self.awaiting is not None:
            msg, self.awaiting = self.awaiting, None
            msg["payload"] = line
            self.start_run(msg)
            return
        try:
            msg = json.loads(line)
        except ValueError:
            self.proto.log("error", f"the Ray driver got a line that is not JSON: {line[:200]!r}")
            return
        op = msg.get("op")
        if op == "run":
            self.awaiting = msg  # its payload is the next line
        elif op == "cancel":
            self.cancel(msg["id"])

    def start_run(self, msg):
        mid = msg["id"]
        if "runtime_env" in msg:
            self.known_envs[msg.get("env_key") or ""] = msg["runtime_env"]
        task = asyncio.ensure_future(self.run_safely(msg))
        self.tasks[mid] = task
        task.add_done_callback(lambda _t, mid=mid: self.tasks.pop(mid, None))

    async def serve(self):
        await self.proto.serve(asyncio.get_running_loop(), self.handle)
        self.pools.close()
        for task in list(self.tasks.values()):
            task.cancel()
        for handle in list(self.handles):
            self._kill(handle)
        self.proto.stop()


def _actor_class():
    from .actor import ExecutionActor

    return ExecutionActor


def _creation_failed(e):
    text = str(e)
    return "creation task" in text or "__init__" in text and "raised an exception" in text


def _first_line(e):
    text = str(e).strip()
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line and not line.startswith(("File ", "Traceback", "^")):
            return line[:500]
    return text[:500] or type(e).__name__


async def amain(proto, cfg, ray):
    drv = Driver(proto, cfg, ray)
    drv.check_resources()
    await drv.start_actors()
    proto.send(op="ready", info=drv.info())
    await drv.serve()


def main():
    proto = Protocol()
    cfg = read_config(proto)
    try:
        ray = connect(cfg)
    except Exception as e:  # one clear line for the user
        proto.send(op="fatal", message=_first_line(e) if not isinstance(e, ConnectionError) else str(e))
        sys.exit(3)
    try:
        asyncio.run(amain(proto, cfg, ray))
    except ConnectionError as e:  # the actors cannot start: one clear line
        proto.stop()
        proto.send(op="fatal", message=str(e))
        sys.exit(3)
    except Exception:
        traceback.print_exc()
        proto.send(op="fatal", message="the Ray driver failed: " + _first_line(sys.exc_info()[1]))
        sys.exit(1)
    finally:
        try:
            ray.shutdown()
        except Exception:
            pass
        remove_private()


def remove_private():
    """Removes the files and directories the driver made for itself."""
    import shutil

    for path in PRIVATE_FILES:
        try:
            os.remove(path)
        except OSError:
            pass
    for path in PRIVATE_DIRS:
        shutil.rmtree(path, ignore_errors=True)
    PRIVATE_FILES.clear()
    PRIVATE_DIRS.clear()


if __name__ == "__main__":
    main()
