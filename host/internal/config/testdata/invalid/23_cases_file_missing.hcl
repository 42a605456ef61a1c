# want: Cannot read cases file @ 9:14
runner "r" { plugin = "pool" }
workflow "w" {
  node "a" { kind = "merge" }
}
batch_test "b" {
  workflow = workflow.w
  runner   = runner.r
  cases    = "does-not-exist.jsonl"
}
