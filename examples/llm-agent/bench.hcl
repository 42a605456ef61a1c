# An LLM agent whose model calls are recorded once and replayed from the
# cassettes committed beside this file: offline, with no API key, the same
# answers every time.
#
#   pip install openai==3.57.0          # the nodes use the official SDK
#   bin/wtb run examples/llm-agent/bench.hcl
#
# To call a model for real (any OpenAI-compatible endpoint) and record anew:
#
#   OPENAI_API_KEY=sk-... bin/wtb run examples/llm-agent/bench.hcl --model-calls record \
#       --var openai_url=https://api.openai.com/v1
#   bin/wtb cassettes export latest examples/llm-agent/cassettes

wtb {
  plugin_dir = "../../bin/plugins"
}

variable "python" {
  type        = string
  default     = "python3"
  description = "A Python with the openai package."
}

variable "openai_url" {
  type        = string
  default     = "https://api.openai.com/v1"
  description = "The OpenAI-compatible endpoint the agent calls when live or recording."
}

variable "openai_ca" {
  type        = string
  default     = ""
  description = "A CA certificate file to trust for that endpoint (a local test server)."
}

gateway {
  mode      = "replay" # --model-calls record | replay | auto | live
  cassettes = "cassettes"

  upstream "openai" {
    url     = var.openai_url
    ca_file = var.openai_ca
  }
}

runner "local" {
  plugin      = "pool"
  max_workers = 4
}

workflow "agent" {
  node "plan" {
    command = [var.python, "agent.py", "plan"]
    timeout = "60s"
    variant "brief" { params = { style = "brief" } }
    variant "stepwise" { params = { style = "step by step" } }
  }

  node "answer" {
    depends_on = ["plan"]
    command    = [var.python, "agent.py", "answer"]
    timeout    = "120s"
    variant "tools" { params = { tools = true } }
    variant "no-tools" { params = { tools = false } }
  }
}

batch_test "capitals" {
  workflow    = workflow.agent
  runner      = runner.local
  cases       = "cases.jsonl"
  max_retries = 1

  evaluator "correct" {
    type   = "contains"
    path   = "$.answer"
    expect = "$.expected.capital"
  }

  threshold {
    overall_score = 0.9
    applies_to    = "best"
  }
}
