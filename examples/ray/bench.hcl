# The quickstart on a Ray cluster: the same workflow, cases and evaluators,
# run by execution actors on Ray instead of a pool on this machine.
#
#   python3 -m venv ~/.ray && ~/.ray/bin/pip install "ray[default]==2.60.0"
#   ~/.ray/bin/ray start --head                # or use the cluster you have
#   make build
#   bin/wtb run examples/ray/bench.hcl --var python=$HOME/.ray/bin/python
#   bin/wtb parity examples/ray/bench.hcl --runners pool,ray --var python=$HOME/.ray/bin/python
#
# The nodes are the quickstart's Go program (bin/examples/qa); on a cluster of
# several machines it must exist at the same path on every node.

wtb {
  plugin_dir = "../../bin/plugins" # relative to this file
}

variable "ray_address" {
  type        = string
  default     = "auto"
  description = "The cluster: \"auto\" (the one `ray start` runs here), \"HOST:6379\", \"ray://HOST:10001\" or \"local\"."
}

variable "python" {
  type        = string
  default     = ""
  description = "A Python with ray 2.60.0 for wtb's driver (default: $WTB_RAY_PYTHON, else python3)."
}

locals {
  qa = "../../bin/examples/qa"
}

runner "ray" {
  plugin            = "ray"
  preset            = "local_development" # 1 CPU and 1 GiB per actor, 16 executions handed over at once
  ray_address       = var.ray_address
  python            = var.python
  num_cpus_per_task = 0.5
}

runner "pool" {
  plugin      = "pool"
  max_workers = 8
}

# The Ray runtime_env of the actors: the block is the base; a variant's
# environment is merged over it (env_vars merged, pip lists concatenated),
# e.g. variant "v2" { environment = { working_dir = "v2", pip = ["httpx"] } }.
# Variants with different runtime_envs run on different actors and do not
# share node runs.
environment "ray" {
  plugin   = "ray"
  env_vars = { QA_PIPELINE = "ray" } # in every node's environment
}

workflow "qa" {
  node "prepare" {
    kind   = "merge"
    params = { pipeline = "quickstart-on-ray", top_k = 2 }
  }

  node "retrieve" {
    depends_on = ["prepare"]
    command    = [local.qa, "retrieve"]
    timeout    = "10s"
    params     = { k = 2 }
    variant "keyword" { params = { mode = "keyword" } }
    variant "bm25" { params = { mode = "bm25" } }
  }

  node "answer" {
    depends_on = ["retrieve"]
    command    = [local.qa, "answer"]
    timeout    = "10s"
    variant "terse" { params = { style = "terse" } }
    variant "verbose" { params = { style = "verbose" } }
  }
}

batch_test "qa-on-ray" {
  workflow    = workflow.qa
  runner      = runner.ray
  environment = environment.ray

  cases       = "../quickstart/cases.jsonl"
  repeat      = 2
  timeout     = "60s"
  max_retries = 2
  max_pending = 32

  evaluator "correct" {
    type   = "json_path_equals"
    path   = "$.answer"
    expect = "$.expected.answer"
    weight = 3
  }
  evaluator "mentions" {
    type   = "contains"
    path   = "$.answer"
    expect = "$.expected.answer"
  }

  threshold {
    overall_score = 0.75
    applies_to    = "best"
  }
}
