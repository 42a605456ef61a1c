"""The Ray side of WTB's Ray runner.

The Go plugin (wtb-runner-ray) starts ``python -m wtb_ray.driver`` and talks to
it with one JSON object per line on stdin/stdout. The driver connects to the
cluster and keeps, per runtime environment, a pool of execution actors; each
actor runs segments through ``wtb-runner-ray node-server`` (the plugin's own
binary), so node semantics are wtb's, not this package's.
"""
