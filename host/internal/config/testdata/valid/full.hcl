wtb {
  database   = "sqlite://x.db"
  plugin_dir = "plugins"
}

variable "model" {
  type    = string
  default = "small"
}

variable "k" {
  type    = number
  default = 2
}

locals {
  greeting = format("hello %s", var.model)
  both     = "${local.greeting}/${var.k}"
}

runner "local" {
  plugin      = "pool"
  max_workers = 4
}

environment "sandbox" {
  plugin = "local"
  env    = { MODEL = var.model }
}

workflow "wf" {
  node "retrieve" {
    command = ["sh", "step.sh"]
    params  = { k = var.k }
    variant "bm25" { params = { mode = "bm25" } }
    variant "dense" {
      params      = { mode = "dense" }
      environment = { INDEX = "dense" }
    }
  }
  node "answer" {
    depends_on = [retrieve]
    kind       = "merge"
    params     = { note = local.both }
    variant "t0" {}
    variant "t1" { params = { temperature = 1 } }
  }
}

batch_test "sweep" {
  workflow    = workflow.wf
  runner      = runner.local
  environment = environment.sandbox
  cases       = "cases.jsonl"
  case "inline" {
    input    = { q = "three" }
    expected = { answer = "3" }
  }
  repeat  = 2
  timeout = "30s"
  exclude {
    retrieve = "dense"
    answer   = ["t1"]
  }
  evaluator "correct" {
    type   = "json_path_equals"
    path   = "$.answer"
    expect = "$.expected.answer"
    weight = 2
  }
  evaluator "fast" {
    type   = "latency"
    max_ms = 100
  }
  threshold {
    overall_score = 0.5
    evaluators    = { correct = 0.4 }
  }
}
