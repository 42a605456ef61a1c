"""The Ray driver of wtb-runner-ray.

Protocol (one JSON object per line): the plugin writes
  {"op": "configure", "config": {...}}            first, once
  {"op": "run", "id": N, "call_id": "...", "payload": "...", "env_key": "...", "runtime_env": {...}}
  {"op": "cancel", "id": N}
and reads
  {"op": "ready", "info": {...}} or {"op": "fatal", "message": "..."}
  {"op": "result", "id": N, "payload": "...", "actor": "..."}
  {"op": "lost", "id": N, "message": "...", "retryable": true|false}
  {"op": "log", "level": "...", "message": "..."}
Closing stdin stops the driver: its actors are killed and it disconnects.
"""

import asyncio
import json
import os
import sys
import threading
import traceback

from . import pool as poolmod
from . import settings

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class Protocol:
    """Writes messages to the plugin on the real stdout; everything else that
    prints (Ray included) goes to stderr."""

    def __init__(self):
        self._out = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        self._lock = threading.Lock()

    def send(self, **msg):
        line = json.dumps(msg, separators=(",", ":"))
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()

    def log(self, level, message):
        self.send(op="log", level=level, message=message)


def read_config(proto):
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)
    msg = json.loads(line)
    if msg.get("op") != "configure":
        proto.send(op="fatal", message=f"the Ray driver expected a configure line, got {msg.get('op')!r}")
        sys.exit(2)
    return msg["config"]


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
    try:
        import ray
    except ImportError as e:
        raise ConnectionError(
            f"{sys.executable} cannot import ray ({e}); install it with "
            f"`{sys.executable} -m pip install 'ray[default]==2.60.0'` or set python in the runner block"
        ) from None
    kwargs = dict(namespace=cfg.get("namespace") or "wtb", logging_level="WARNING", log_to_driver=False)
    if address is None:
        ray.init(include_dashboard=False, **kwargs)  # a private Ray for this batch
        return ray
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as e:
        raise ConnectionError(f"cannot connect to the Ray cluster at {address}: {e}") from None
    return ray


class Driver:
    def __init__(self, proto, cfg, ray):
        self.proto = proto
        self.cfg = cfg
        self.ray = ray
        self.tasks = {}  # id -> asyncio.Task
        self.running = {}  # id -> (slot, call_id)
        self.handles = set()
        self.envs = {}  # env key -> runtime_env ready for actors
        self.modules = [PACKAGE_DIR]
        if cfg.get("ship"):
            self.executor = "ship"
            self.modules.append(self._ship_dir(cfg["executor"]))
        else:
            self.executor = cfg["executor"]
        self.base_env = cfg.get("runtime_env") or {}
        cpus = ray.cluster_resources().get("CPU", 0)
        self.budget = settings.actor_budget(cfg.get("actors") or 0, cfg["max_pending"], cfg.get("num_cpus") or 0, cpus)
        self.pools = poolmod.ActorPools(self.budget, cfg.get("max_restarts", 0), self._create, self._kill)
        remote_cls = ray.remote(_actor_class())
        self.actor_cls = remote_cls

    def _ship_dir(self, binary):
        """A py_module holding this plugin's binary, uploaded to the cluster
        once per binary (Ray keys uploads by content)."""
        import tempfile

        d = os.path.join(tempfile.mkdtemp(prefix="wtb-ray-ship-"), "wtb_ray_executor")
        os.makedirs(d)
        with open(os.path.join(d, "__init__.py"), "w") as f:
            f.write('"""wtb\'s node executor, shipped with the job."""\n')
        dst = os.path.join(d, "wtb-runner-ray")
        try:
            os.link(binary, dst)
        except OSError:
            import shutil

            shutil.copyfile(binary, dst)
        os.chmod(dst, 0o755)
        return d

    def info(self):
        ray = self.ray
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        return {
            "ray_version": ray.__version__,
            "cpus": ray.cluster_resources().get("CPU", 0),
            "nodes": len(nodes),
            "actors": self.budget,
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

    async def run(self, msg):
        mid = msg["id"]
        ray = self.ray
        key = msg.get("env_key") or ""
        env = msg.get("runtime_env")
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
            await self.pools.broken(slot, f"the Ray runtime_env of this variant could not be set up: {text}")
            self.proto.send(op="lost", id=mid, retryable=False, message=f"the Ray runtime_env of this variant could not be set up: {text}")
            return
        except ray.exceptions.RayActorError as e:
            if _creation_failed(e):
                text = _first_line(e)
                await self.pools.broken(slot, f"the Ray execution actor could not start: {text}")
                self.proto.send(op="lost", id=mid, retryable=False, message=f"the Ray execution actor could not start: {text}")
                return
            retired = await self.pools.died(slot)
            what = "retired after dying more than max_retries times" if retired else "Ray restarts it"
            self.proto.log("warn", f"a Ray execution actor died running an execution ({what}): {_first_line(e)}")
            self.proto.send(op="lost", id=mid, retryable=True,
                            message=f"the Ray actor running this execution died ({what}): {_first_line(e)}")
            return
        except ray.exceptions.RayTaskError as e:
            # The node server died under the call: the actor is fine and
            # starts a new one for the next call.
            await self.pools.release(slot)
            self.proto.send(op="lost", id=mid, retryable=True, message=_first_line(e))
            return
        except Exception as e:
            await self.pools.release(slot)
            self.proto.send(op="lost", id=mid, retryable=True, message=f"{type(e).__name__}: {_first_line(e)}")
            return
        finally:
            self.running.pop(mid, None)
        await self.pools.release(slot)
        self.proto.send(op="result", id=mid, payload=line, actor=worker)

    def cancel(self, mid):
        running = self.running.get(mid)
        if running is not None:
            slot, call_id = running
            slot.handle.cancel.remote(call_id)
            return
        task = self.tasks.get(mid)
        if task is not None:
            task.cancel()  # still waiting for an actor

    async def serve(self, lines):
        while True:
            line = await lines.get()
            if line is None:
                break
            try:
                msg = json.loads(line)
            except ValueError:
                self.proto.log("error", f"the Ray driver got a line that is not JSON: {line[:200]!r}")
                continue
            op = msg.get("op")
            if op == "run":
                mid = msg["id"]
                task = asyncio.ensure_future(self.run(msg))
                self.tasks[mid] = task
                task.add_done_callback(lambda _t, mid=mid: self.tasks.pop(mid, None))
            elif op == "cancel":
                self.cancel(msg["id"])
        await self.pools.close()
        for task in list(self.tasks.values()):
            task.cancel()
        for handle in list(self.handles):
            self._kill(handle)


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


def stdin_lines(loop):
    queue = asyncio.Queue()

    def pump():
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=pump, daemon=True).start()
    return queue


async def amain(proto, cfg, ray):
    drv = Driver(proto, cfg, ray)
    proto.send(op="ready", info=drv.info())
    await drv.serve(stdin_lines(asyncio.get_running_loop()))


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
    except Exception:
        traceback.print_exc()
        proto.send(op="fatal", message="the Ray driver failed: " + _first_line(sys.exc_info()[1]))
        sys.exit(1)
    finally:
        try:
            ray.shutdown()
        except Exception:
            pass


if __name__ == "__main__":
    main()
