# want: Cycle in local values @ 3:7
locals {
  a = local.b
  b = local.a
}
