package engine

import (
	"sync"
	"sync/atomic"
	"time"
)

// Cache lifetimes (DESIGN.md, caches): a device's status is fresh for 5
// minutes, its inventory for 24 hours. A forced refresh bypasses both.
const (
	DefaultStatusTTL    = 5 * time.Minute
	DefaultInventoryTTL = 24 * time.Hour
)

// CacheStats counts a cache's lookups.
type CacheStats struct {
	Hits    int64 `json:"hits"`
	Misses  int64 `json:"misses"`
	Entries int   `json:"entries"`
}

// Cache keeps values for a time-to-live. It is written through: the
// engine puts a value when it queues the same data for the store, so a
// hit is never older than the store's row. It is safe for concurrent use;
// the zero value is not usable, create it with NewCache.
type Cache[K comparable, V any] struct {
	ttl  time.Duration
	now  func() time.Time
	mu   sync.RWMutex
	m    map[K]cacheEntry[V]
	hits atomic.Int64
	miss atomic.Int64
}

type cacheEntry[V any] struct {
	v  V
	at time.Time
}

// NewCache returns an empty cache whose entries are fresh for ttl.
func NewCache[K comparable, V any](ttl time.Duration) *Cache[K, V] {
	return &Cache[K, V]{ttl: ttl, now: time.Now, m: make(map[K]cacheEntry[V])}
}

// Get returns the value for k if it was put less than the TTL ago, and
// counts a hit or a miss.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if ok && c.now().Sub(e.at) < c.ttl {
		c.hits.Add(1)
		return e.v, true
	}
	c.miss.Add(1)
	var zero V
	return zero, false
}

// Put stores v for k as of now.
func (c *Cache[K, V]) Put(k K, v V) {
	at := c.now()
	c.mu.Lock()
	c.m[k] = cacheEntry[V]{v: v, at: at}
	c.mu.Unlock()
}

// Delete forgets k (the device was removed).
func (c *Cache[K, V]) Delete(k K) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

// Stats returns the hit and miss counts and the number of entries.
func (c *Cache[K, V]) Stats() CacheStats {
	c.mu.RLock()
	n := len(c.m)
	c.mu.RUnlock()
	return CacheStats{Hits: c.hits.Load(), Misses: c.miss.Load(), Entries: n}
}
