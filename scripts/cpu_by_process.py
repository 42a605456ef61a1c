"""CPU seconds spent by each kind of process over a window: how the Ray
runner's per-execution cost splits between host, plugin, driver, actors and
node servers (README, Performance). Start it, then the batch:

    python3 scripts/cpu_by_process.py 3 2.5 & bin/wtb run bench.hcl

measures 3 s starting 2.5 s from now (past start-up). Processes are grouped
by the first of the patterns below their command line contains; an actor
renames itself ("ray::ExecutionActor.run"). Processes that live less than a
sampling interval (the node's own sh) are missed.

usage: cpu_by_process.py SECONDS DELAY
"""

import collections
import os
import sys
import time

PATTERNS = ["wtb_ray.driver", "ExecutionActor", "node-server", "wtb run", "wtb-runner-ray", "wtb-runner-pool",
            "raylet", "gcs_server", "ray_baseline", "ray::", "python"]


def sample():
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/cmdline") as f:
                cmd = f.read().replace("\0", " ").strip()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        out[pid] = (cmd or stat[stat.index("(") + 1:stat.rindex(")")], int(fields[11]) + int(fields[12]))
    return out


def main():
    seconds, delay = float(sys.argv[1]), float(sys.argv[2])
    time.sleep(delay)
    first, last = sample(), {}
    end = time.time() + seconds
    while time.time() < end:
        for pid, v in sample().items():
            first.setdefault(pid, (v[0], 0))  # started within the window
            last[pid] = v
        time.sleep(0.2)
    hz = os.sysconf("SC_CLK_TCK")
    by = collections.Counter()
    for pid, (cmd, ticks) in last.items():
        group = next((p for p in PATTERNS if p in cmd), "other: " + cmd[:40])
        by[group] += ticks - first[pid][1]
    for group, ticks in by.most_common(12):
        if ticks:
            print(f"{ticks / hz:6.2f} s  {group}")


if __name__ == "__main__":
    main()
