# want: No combinations left @ 13:3
runner "r" { plugin = "pool" }
workflow "w" {
  node "a" {
    kind = "merge"
    variant "x" {}
  }
}
batch_test "b" {
  workflow = workflow.w
  runner   = runner.r
  case "c" { input = {} }
  exclude { a = "x" }
}
