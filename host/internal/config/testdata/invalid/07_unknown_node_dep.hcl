# want: Reference to undeclared node @ 6:19
workflow "w" {
  node "a" { kind = "merge" }
  node "b" {
    kind       = "merge"
    depends_on = ["c"]
  }
}
