# want: Reference to undeclared variant @ 13:17
runner "r" { plugin = "pool" }
workflow "w" {
  node "a" {
    kind = "merge"
    variant "x" {}
    variant "y" {}
  }
}
batch_test "b" {
  workflow = workflow.w
  runner   = runner.r
  exclude { a = "z" }
  case "c" { input = {} }
}
