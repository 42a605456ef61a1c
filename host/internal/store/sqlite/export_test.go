package sqlite

// SetWALLimit lowers the size at which writes truncate the write-ahead log.
func (s *Store) SetWALLimit(n int64) { s.walLimit = n }
