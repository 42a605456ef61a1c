package jsondoc

import "github.com/wtbench/wtb/host/internal/store"

// CacheStats is what the node cache holds (wtb cache stats).
type CacheStats struct {
	Header
	// Database is where the cache is, its password masked.
	Database string `json:"database"`
	// Entries are the cached node runs, from Batches batches, with Bytes of
	// stored state.
	Entries int   `json:"entries"`
	Batches int   `json:"batches"`
	Bytes   int64 `json:"bytes"`
}

// CacheStatsOf describes s.
func CacheStatsOf(database string, s store.CacheStats) CacheStats {
	return CacheStats{Header: header(KindCacheStats), Database: database, Entries: s.Entries, Batches: s.Batches, Bytes: s.Bytes}
}

// CacheCleared is what wtb cache clear forgot.
type CacheCleared struct {
	Header
	Database string `json:"database"`
	// Cleared is the number of cache entries forgotten (their checkpoints
	// stay for inspection).
	Cleared int `json:"cleared"`
}

// CacheClearedOf describes a cleared cache.
func CacheClearedOf(database string, n int) CacheCleared {
	return CacheCleared{Header: header(KindCacheCleared), Database: database, Cleared: n}
}
