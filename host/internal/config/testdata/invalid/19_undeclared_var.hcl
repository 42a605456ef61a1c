# want: Unsupported attribute @ 5:27
workflow "w" {
  node "a" {
    kind   = "merge"
    params = { model = var.modle }
  }
}
