# want: Node depends on itself @ 5:19
workflow "w" {
  node "a" {
    kind       = "merge"
    depends_on = ["a"]
  }
}
