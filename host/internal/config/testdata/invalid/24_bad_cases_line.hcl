# want: Invalid case @ bad_cases.jsonl:2:1
runner "r" { plugin = "pool" }
workflow "w" {
  node "a" { kind = "merge" }
}
batch_test "b" {
  workflow = workflow.w
  runner   = runner.r
  cases    = "bad_cases.jsonl"
}
