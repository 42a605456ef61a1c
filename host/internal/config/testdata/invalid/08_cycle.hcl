# want: Dependency cycle @ 3:3
workflow "w" {
  node "a" {
    kind       = "merge"
    depends_on = ["b"]
  }
  node "b" {
    kind       = "merge"
    depends_on = ["a"]
  }
}
