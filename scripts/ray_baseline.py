"""The ceiling for any Ray-based runner here: a bare ray.util.ActorPool loop
doing the work a wtb node does — start the node's process, hand it the JSON
input on stdin, read its JSON output — with the same actors (count and CPUs)
on the same cluster. Prints "steady_per_s wall_s" (steady: first to last
completion, without the actors' start-up; wall: everything but ray.init).

usage: python ray_baseline.py ADDRESS ACTORS CPUS EXECUTIONS SLEEP_S
"""

import json
import os
import subprocess
import sys
import time

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # a loopback head
import ray  # noqa: E402
from ray.util import ActorPool  # noqa: E402

address, actors, cpus, n, sleep_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
ray.init(address=address, logging_level="ERROR", log_to_driver=False)


@ray.remote
class Node:
    def run(self, payload):
        script = "cat >/dev/null; echo '{\"ok\": true}'" if sleep_s == "0" else f"cat >/dev/null; sleep {sleep_s}; echo '{{\"ok\": true}}'"
        out = subprocess.run(["sh", "-c", script], input=payload, capture_output=True, check=True)
        return json.loads(out.stdout)


start = time.monotonic()
pool = ActorPool([Node.options(num_cpus=cpus).remote() for _ in range(actors)])
payloads = [json.dumps({"state": {}, "params": {"v": i % 2}, "case": {"id": f"c{i}", "input": {"q": i}}}).encode() for i in range(n)]
done = []
for _ in pool.map_unordered(lambda a, p: a.run.remote(p), payloads):
    done.append(time.monotonic())
wall = time.monotonic() - start
steady = (len(done) - 1) / (done[-1] - done[0])
print(f"{steady:.1f} {wall:.2f}")
