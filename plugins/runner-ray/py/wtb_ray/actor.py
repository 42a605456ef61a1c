"""The execution actor: one per pool slot, on any Ray node. It keeps a
`wtb-runner-ray node-server` process and passes it one segment at a time;
the node server runs the nodes with wtb's executor, so what a node sees and
what comes back is the same as on every other runner."""

import json
import os
import stat
import subprocess
import sys
import threading


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
        raise FileNotFoundError(f"wtb's node executor is not at {path} on this Ray node")
    return path


class ExecutionActor:
    def __init__(self, executor):
        self._executor = find_executor(executor)
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._proc = None
        self._waiting = {}
        self.worker_id = f"ray:{_node_ip()}/{os.getpid()}"
        self._start()

    def _start(self):
        # stderr goes to this worker's Ray log; the node server exits when
        # this process dies (it watches its parent).
        proc = subprocess.Popen(
            [self._executor, "node-server", "--worker-id", self.worker_id, "--workers", "1"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
        )
        self._proc = proc
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc):
        for line in proc.stdout:
            try:
                call_id = json.loads(line)["id"]
            except (ValueError, KeyError, TypeError):
                print(f"wtb node server wrote a line that is not a reply: {line[:200]!r}", file=sys.stderr)
                continue
            with self._lock:
                waiter = self._waiting.pop(call_id, None)
            if waiter is not None:
                waiter[1] = line.decode()
                waiter[0].set()
        # The node server is gone: nobody gets an answer from it any more.
        proc.wait()
        with self._lock:
            waiting, self._waiting = self._waiting, {}
            if self._proc is proc:
                self._proc = None
        for waiter in waiting.values():
            waiter[0].set()

    def _send(self, proc, line):
        # run and cancel may write at once (two threads in this actor).
        with self._write_lock:
            proc.stdin.write(line)
            proc.stdin.flush()

    def ping(self):
        return self.worker_id

    def run(self, call_id, payload):
        """Runs one segment; returns (reply line, worker id). A node server
        that died mid-call raises, which the driver reports as retryable."""
        waiter = [threading.Event(), None]
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            proc = self._proc
            self._waiting[call_id] = waiter
        try:
            self._send(proc, payload.encode() + b"\n")
        except (OSError, ValueError) as e:
            with self._lock:
                self._waiting.pop(call_id, None)
            raise RuntimeError(f"the node server on {self.worker_id} is gone: {e}") from None
        waiter[0].wait()
        if waiter[1] is None:
            raise RuntimeError(f"the node server on {self.worker_id} exited (code {proc.poll()}) while running a segment")
        return waiter[1], self.worker_id

    def cancel(self, call_id):
        with self._lock:
            proc = self._proc
            running = call_id in self._waiting
        if proc is not None and running:
            try:
                self._send(proc, json.dumps({"id": call_id, "cancel": True}).encode() + b"\n")
            except (OSError, ValueError):
                pass
        return running


def _node_ip():
    try:
        import ray

        return ray.util.get_node_ip_address()
    except Exception:
        import socket

        return socket.gethostname()
