# want: No value for required variable @ 2:1
variable "api_key" {
  type = string
}
