package posting

import (
	"time"

	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Metrics observes the write path. The ledger package implements it with
// OpenTelemetry instruments; this package only reports.
type Metrics interface {
	// Batch reports one group commit on a shard: how many requests it
	// carried, how long its transaction took (with its retries), and the
	// error it failed with (nil: committed). A failed batch of several
	// requests is reported again as one batch per request, each tried
	// alone.
	Batch(shard, requests int, took time.Duration, err error)
	// Committed reports the entries a committed batch wrote.
	Committed(entries []*domain.Entry)
}

type unobserved struct{}

func (unobserved) Batch(int, int, time.Duration, error) {}
func (unobserved) Committed([]*domain.Entry)            {}

// QueueDepths returns how many requests wait on each shard for a write
// transaction, shard by shard.
func (s *Service) QueueDepths() []int {
	out := make([]int, len(s.shards))
	for i, ch := range s.shards {
		out[i] = len(ch)
	}
	return out
}
