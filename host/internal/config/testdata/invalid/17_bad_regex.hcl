# want: Invalid regular expression @ 12:15
runner "r" { plugin = "pool" }
workflow "w" {
  node "a" { kind = "merge" }
}
batch_test "b" {
  workflow = workflow.w
  runner   = runner.r
  case "c" { input = {} }
  evaluator "e" {
    type    = "regex"
    pattern = "([a-z"
  }
}
