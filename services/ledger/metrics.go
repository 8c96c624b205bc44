package ledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/status"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// meterName is the instrumentation scope of the ledger's instruments.
const meterName = "github.com/fidelis-loyalty/fidelis/services/ledger"

// postingMetrics implements posting.Metrics with OpenTelemetry
// instruments. Labels are the programme, the channel and the shard: never
// a member, card or key.
type postingMetrics struct {
	earned, burned, expired, clawedBack metric.Int64Counter
	batchSize                           metric.Int64Histogram
	commit                              metric.Float64Histogram
}

var _ posting.Metrics = (*postingMetrics)(nil)

func newPostingMetrics(m metric.Meter) (*postingMetrics, error) {
	var pm postingMetrics
	var errs [3]error
	points := func(name, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit("{point}"), metric.WithDescription(desc))
		errs[0] = errors.Join(errs[0], err)
		return c
	}
	pm.earned = points("fidelis.ledger.points.earned", "Points earned, by programme and channel")
	pm.burned = points("fidelis.ledger.points.burned", "Points spent, by burns and captured holds, by programme and channel")
	pm.expired = points("fidelis.ledger.points.expired", "Points expired, by programme")
	pm.clawedBack = points("fidelis.ledger.points.clawed_back", "Points taken back from returned purchases, by programme and channel")
	pm.batchSize, errs[1] = m.Int64Histogram("fidelis.ledger.batch.size", metric.WithUnit("{request}"),
		metric.WithDescription("Requests group-committed in one write transaction, by shard"),
		metric.WithExplicitBucketBoundaries(1, 2, 4, 8, 16, 32, 64, 128, 256))
	pm.commit, errs[2] = m.Float64Histogram("fidelis.ledger.commit.duration", metric.WithUnit("s"),
		metric.WithDescription("Time of a group commit's write transaction, retries included, by shard and outcome"),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("ledger metrics: %w", err)
	}
	return &pm, nil
}

func (pm *postingMetrics) Batch(shard, requests int, took time.Duration, err error) {
	ctx := context.Background()
	s := attribute.String("shard", strconv.Itoa(shard))
	outcome := "committed"
	if err != nil {
		outcome = "failed"
	}
	pm.batchSize.Record(ctx, int64(requests), metric.WithAttributes(s))
	pm.commit.Record(ctx, took.Seconds(), metric.WithAttributes(s, attribute.String("outcome", outcome)))
}

func (pm *postingMetrics) Committed(entries []*domain.Entry) {
	for _, e := range entries {
		var c metric.Int64Counter
		switch e.Kind {
		case domain.EntryEarn:
			c = pm.earned
		case domain.EntryBurn, domain.EntryCapture:
			c = pm.burned
		case domain.EntryExpiry:
			c = pm.expired
		case domain.EntryClawback:
			c = pm.clawedBack
		default:
			continue
		}
		channel := string(e.Channel)
		if channel == "" {
			channel = "none"
		}
		c.Add(context.Background(), e.Points, metric.WithAttributes(
			attribute.String("programme", e.ProgrammeID), attribute.String("channel", channel)))
	}
}

// observe registers the gauges read at collection: the requests queued
// per shard, and the projector's backlog (read from the database, so every
// replica reports the cluster's; alert on the max).
func observe(m metric.Meter, p *posting.Service, s *status.Service) error {
	depth, err1 := m.Int64ObservableGauge("fidelis.ledger.queue.depth", metric.WithUnit("{request}"),
		metric.WithDescription("Requests waiting for a write transaction, by shard"))
	backlog, err2 := m.Int64ObservableGauge("fidelis.ledger.projector.backlog", metric.WithUnit("{entry}"),
		metric.WithDescription("Ledger entries committed and not yet projected"))
	lag, err3 := m.Float64ObservableGauge("fidelis.ledger.projector.lag", metric.WithUnit("s"),
		metric.WithDescription("How long the oldest entry not yet projected has waited (0 when none waits)"))
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("ledger metrics: %w", err)
	}
	_, err := m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		for i, n := range p.QueueDepths() {
			o.ObserveInt64(depth, int64(n), metric.WithAttributes(attribute.String("shard", strconv.Itoa(i))))
		}
		// A scrape does not wait long for a busy database: without an
		// answer the series is absent, which the absent-lag alert sees.
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		b, err := s.Backlog(ctx)
		if err != nil {
			return nil
		}
		o.ObserveInt64(backlog, b.Entries)
		o.ObserveFloat64(lag, b.Behind.Seconds())
		return nil
	}, depth, backlog, lag)
	if err != nil {
		return fmt.Errorf("ledger metrics: %w", err)
	}
	return nil
}
