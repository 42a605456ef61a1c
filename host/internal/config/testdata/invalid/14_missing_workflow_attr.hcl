# want: Missing required argument @ 3:1
runner "r" { plugin = "pool" }
batch_test "b" {
  runner = runner.r
  case "c" { input = {} }
}
