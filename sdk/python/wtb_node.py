"""Write a WTB command node in Python with almost nothing.

    from wtb_node import serve

    def answer(request):
        state, params = request["state"], request["params"]
        return {"answer": "Paris"}

    serve(answer)

`serve` runs the function once on the JSON document the node reads on stdin
(a one-shot node), or once per line for as long as the process lives when WTB
starts it as a persistent worker (`worker = true` in the bench file; the
process then has WTB_WORKER=1). The same program works both ways.

In a worker, module-level state lives across requests: import the heavy
framework and load the model once, at module level; do not keep one request's
data for the next. While the function runs, print() goes to stderr (stdout
carries the answers), where WTB stores it with the request's logs.

Raise Retryable for failures worth another attempt (a rate limit, a flaky
service); any other exception fails the node run. Standard library only.
"""

import json
import os
import sys
import traceback

__all__ = ["serve", "Retryable", "is_worker"]

RETRYABLE_EXIT_CODE = 75


class Retryable(Exception):
    """A failure worth retrying: the host may run the node again."""


def is_worker():
    """True when WTB started this process as a persistent worker."""
    return os.environ.get("WTB_WORKER") == "1"


def serve(fn, stdin=None, stdout=None, stderr=None):
    """Run fn(request) -> dict as the node's program, then exit."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    if is_worker():
        sys.exit(_serve_worker(fn, stdin, stdout, stderr))
    sys.exit(_serve_once(fn, stdin, stdout, stderr))


def _serve_once(fn, stdin, stdout, stderr):
    try:
        request = json.load(stdin)
    except ValueError as e:
        print("reading the node's input: %s" % e, file=stderr)
        return 1
    try:
        out = _call(fn, request, stderr)
    except Retryable as e:
        print("retryable: %s" % e, file=stderr)
        return RETRYABLE_EXIT_CODE
    except Exception:
        traceback.print_exc(file=stderr)
        return 1
    json.dump(out, stdout)
    stdout.write("\n")
    stdout.flush()
    return 0


def _serve_worker(fn, stdin, stdout, stderr):
    for line in stdin:
        if not line.strip():
            continue
        try:
            out = _call(fn, json.loads(line), stderr)
            answer = json.dumps(out)
        except Retryable as e:
            answer = json.dumps({"$error": str(e), "$retryable": True})
        except Exception as e:
            traceback.print_exc(file=stderr)
            answer = json.dumps({"$error": "%s: %s" % (type(e).__name__, e), "$retryable": False})
        stdout.write(answer + "\n")
        stdout.flush()
    return 0


def _call(fn, request, stderr):
    """Calls fn with print() going to stderr; checks it returned an object."""
    saved = sys.stdout
    sys.stdout = stderr
    try:
        out = fn(request)
    finally:
        sys.stdout = saved
        stderr.flush()
    if out is None:
        out = {}
    if not isinstance(out, dict):
        raise TypeError("a node must return a dict (merged into the state), got %s" % type(out).__name__)
    return out
