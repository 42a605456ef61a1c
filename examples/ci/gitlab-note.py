#!/usr/bin/env python3
"""Post a wtb summary on the GitLab merge request a pipeline runs for.

One note per merge request, edited on every pipeline: the note whose body
starts with the summary's first line (<!-- wtb-summary -->) is replaced, else
a new one is added. Standard library only.

    python3 examples/ci/gitlab-note.py wtb-summary.md

Reads CI_API_V4_URL, CI_PROJECT_ID and CI_MERGE_REQUEST_IID (set by GitLab in
merge request pipelines) and WTB_NOTE_TOKEN (a project access token with the
api scope, as a masked CI/CD variable: CI_JOB_TOKEN cannot write notes).
Outside a merge request pipeline, or without the token, it says so and does
nothing.
"""

import json
import os
import sys
import urllib.parse
import urllib.request

MARKER = "<!-- wtb-summary -->"


def call(method, url, token, body=None):
    data = None if body is None else urllib.parse.urlencode({"body": body}).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"PRIVATE-TOKEN": token})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp), resp.headers


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gitlab-note.py SUMMARY.md")
    iid = os.environ.get("CI_MERGE_REQUEST_IID", "")
    token = os.environ.get("WTB_NOTE_TOKEN", "")
    if not iid:
        print("gitlab-note: not a merge request pipeline; no note posted")
        return
    if not token:
        print("gitlab-note: WTB_NOTE_TOKEN is not set; no note posted")
        return
    with open(sys.argv[1], encoding="utf-8") as f:
        summary = f.read()
    notes = "%s/projects/%s/merge_requests/%s/notes" % (
        os.environ["CI_API_V4_URL"].rstrip("/"),
        urllib.parse.quote(os.environ["CI_PROJECT_ID"], safe=""),
        iid,
    )
    page = "1"
    while page:
        found, headers = call("GET", notes + "?per_page=100&sort=asc&page=" + page, token)
        for note in found:
            if note.get("body", "").startswith(MARKER):
                call("PUT", "%s/%s" % (notes, note["id"]), token, summary)
                print("gitlab-note: updated note %s" % note["id"])
                return
        page = headers.get("X-Next-Page", "")
    created, _ = call("POST", notes, token, summary)
    print("gitlab-note: added note %s" % created["id"])


if __name__ == "__main__":
    main()
