"""Ticket triage nodes for examples/python-worker/bench.hcl.

One program, two nodes: `triage.py classify` labels a support ticket,
`triage.py route` picks the team for the label. It stands in for an agent
node that imports a heavy framework: the module sleeps IMPORT_SECONDS (0.5 by
default) while "loading its model", once per process. Run one-shot, every
request pays that; run as a persistent worker (worker = true), the process
pays it once and then serves request after request.
"""

import os
import sys
import time

from wtb_node import Retryable, serve

# Module level: runs once per process, so once per worker.
time.sleep(float(os.environ.get("IMPORT_SECONDS", "0.5")))
KEYWORDS = {
    "billing": ["invoice", "charge", "refund", "paid", "card"],
    "bug": ["crash", "error", "broken", "fails", "exception"],
    "feature": ["would be nice", "please add", "support for", "could you add"],
}
WEIGHTS = {"billing": 1.0, "bug": 1.2, "feature": 0.75}
TEAMS = {"billing": "finance", "bug": "engineering", "feature": "product", "other": "support"}


def classify(request):
    text = request["case"]["input"]["ticket"].lower()
    if "rate limit" in text:  # a flaky upstream in real life: worth a retry
        raise Retryable("upstream rate limit")
    scores = {label: sum(text.count(w) for w in words) for label, words in KEYWORDS.items()}
    if request["params"].get("mode") == "weighted":
        scores = {label: s * WEIGHTS[label] for label, s in scores.items()}
    best = max(scores, key=scores.get)
    print("scores %s" % scores)  # goes to stderr, stored with the node's logs
    return {"label": best if scores[best] > 0 else "other"}


def route(request):
    return {"team": TEAMS[request["state"]["label"]]}


if __name__ == "__main__":
    serve({"classify": classify, "route": route}[sys.argv[1]])
