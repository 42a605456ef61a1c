# want: Reference to undeclared runner @ 8:14
runner "local" { plugin = "pool" }
workflow "w" {
  node "a" { kind = "merge" }
}
batch_test "b" {
  workflow = workflow.w
  runner   = runner.cluster
  case "c" { input = {} }
}
