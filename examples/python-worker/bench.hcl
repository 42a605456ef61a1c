# Persistent workers: a Python node that takes half a second to import.
#
#   bin/wtb run examples/python-worker/bench.hcl                    # workers
#   bin/wtb run examples/python-worker/bench.hcl --var worker=false # one process per request
#
# triage.py uses sdk/python/wtb_node.py (standard library only): the same
# program answers one request when started one-shot and a stream of requests,
# one JSON line each, when WTB starts it as a worker (WTB_WORKER=1). Its
# module-level code - the slow "model load" here - runs once per process, so
# as workers the batch pays it a handful of times instead of once per request.

wtb {
  plugin_dir = "../../bin/plugins"
}

variable "worker" {
  type        = bool
  default     = true
  description = "Run the nodes as persistent workers (false: a process per request)."
}

locals {
  node = ["python3", "${path.root}/triage.py"]
  env  = { PYTHONPATH = "${path.root}/../../sdk/python", IMPORT_SECONDS = "0.5" }
}

runner "local" {
  plugin      = "pool"
  max_workers = 4 # also the most worker processes per node configuration
}

workflow "triage" {
  node "classify" {
    command = concat(local.node, ["classify"])
    env     = local.env
    worker  = var.worker
    timeout = "10s" # a request that runs over kills its worker, which is replaced
    variant "keywords" { params = { mode = "keywords" } }
    variant "weighted" { params = { mode = "weighted" } }
  }

  node "route" {
    depends_on = ["classify"]
    command    = concat(local.node, ["route"])
    env        = local.env
    # worker { ... } instead of worker = true bounds the processes:
    worker {
      max          = 2     # at most two route processes
      max_requests = 500   # replace a process after 500 requests (leaky frameworks)
      idle_timeout = "30s" # stop a process idle this long
    }
  }
}

batch_test "triage" {
  workflow    = workflow.triage
  runner      = runner.local
  repeat      = 2
  max_retries = 1
  cases       = "cases.jsonl" # {"id", "input": {"ticket"}, "expected": {"team"}} per line


  evaluator "team" {
    type   = "json_path_equals"
    path   = "$.team"
    expect = "$.expected.team"
  }
  threshold {
    pass_rate  = 0.8
    applies_to = "best"
  }
}
