"""The execution actor: one per pool slot, on any Ray node. It keeps a
`wtb-runner-ray node-server` process and passes it one segment at a time;
the node server runs the nodes with wtb's executor, so what a node sees and
what comes back is the same as on every other runner."""

import asyncio
import json
import os
import stat
import sys


def find_executor(path):
    """The node server binary: a path that exists on this node, or "ship":
    the copy uploaded with the job as the py_module wtb_ray_executor."""
    if path == "ship":
        import wtb_ray_executor  # shipped in the actor's runtime_env

        path = os.path.join(os.path.dirname(wtb_ray_executor.__file__), "wtb-runner-ray")
        mode = os.stat(path).st_mode
        if not mode & stat.S_IXUSR:
            # Ray's package upload does not keep file modes.
            try:
                os.chmod(path, mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            except OSError:
                pass
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"wtb's node executor is not at {path} on this Ray node (install wtb-runner-ray there, "
            f"or leave executor unset to ship it with the job)"
        )
    return path


class ExecutionActor:
    """An async actor: the node server's pipes are asyncio streams, so a call
    costs no thread hand-offs (a threaded actor measured at half the
    throughput of a bare ActorPool loop on trivial nodes)."""

    def __init__(self, executor):
        self._executor = find_executor(executor)
        self._proc = None
        self._reader = None
        self._waiting = {}
        self.worker_id = f"ray:{_node_ip()}/{os.getpid()}"

    async def _start(self):
        # stderr goes to this worker's Ray log; the node server exits when
        # this process dies (it watches its parent).
        self._proc = await asyncio.create_subprocess_exec(
            self._executor, "node-server", "--worker-id", self.worker_id, "--workers", "1",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=MAX_LINE,
        )
        self._reader = asyncio.ensure_future(self._read(self._proc))

    async def _read(self, proc):
        try:
            while True:
                line = await proc.stdout.readline()
                if not line:
                    break
                call_id = _reply_id(line)
                if call_id is None:
                    print(f"wtb node server wrote a line that is not a reply: {line[:200]!r}", file=sys.stderr)
                    continue
                fut = self._waiting.pop(call_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(line.rstrip(b"\n"))
        except Exception as e:  # a line beyond MAX_LINE, a broken pipe
            print(f"wtb node server: reading its replies failed: {e}", file=sys.stderr)
        # The node server is gone: nobody gets an answer from it any more.
        try:
            proc.kill()
        except ProcessLookupError:
            pass
        code = await proc.wait()
        if self._proc is proc:
            self._proc = None
        waiting, self._waiting = self._waiting, {}
        for fut in waiting.values():
            if not fut.done():
                fut.set_exception(RuntimeError(f"the node server on {self.worker_id} exited (code {code}) while running a segment"))

    def ping(self):
        return self.worker_id

    async def run(self, call_id, payload):
        """Runs one segment (a call line, bytes); returns (reply line, worker
        id). A node server
        that died mid-call raises, which the driver reports as retryable."""
        if self._proc is None or self._proc.returncode is not None:
            await self._start()
        proc = self._proc
        fut = asyncio.get_running_loop().create_future()
        self._waiting[call_id] = fut
        try:
            proc.stdin.write(payload + b"\n")
            await proc.stdin.drain()
        except (OSError, ConnectionError) as e:
            self._waiting.pop(call_id, None)
            raise RuntimeError(f"the node server on {self.worker_id} is gone: {e}") from None
        return await fut, self.worker_id

    async def cancel(self, call_id):
        proc = self._proc
        if proc is None or call_id not in self._waiting:
            return False
        try:
            proc.stdin.write(json.dumps({"id": call_id, "cancel": True}).encode() + b"\n")
            await proc.stdin.drain()
        except (OSError, ConnectionError):
            pass
        return True


# Replies carry whole states; the executor's own limits apply before this.
MAX_LINE = 1 << 31


def _reply_id(line):
    """The id of a node server reply: the Go side writes it first, so the
    (possibly large) rest is not parsed here."""
    prefix = b'{"id":"'
    if line.startswith(prefix):
        end = line.find(b'"', len(prefix))
        if end > 0 and b"\\" not in line[len(prefix):end]:
            return line[len(prefix):end].decode()
    try:
        return json.loads(line)["id"]
    except (ValueError, KeyError, TypeError):
        return None


def _node_ip():
    try:
        import ray

        return ray.util.get_node_ip_address()
    except Exception:
        import socket

        return socket.gethostname()
