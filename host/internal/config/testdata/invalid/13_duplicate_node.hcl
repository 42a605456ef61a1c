# want: Duplicate node block @ 4:3
workflow "w" {
  node "a" { kind = "merge" }
  node "a" { kind = "merge" }
}
