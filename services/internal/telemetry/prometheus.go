package telemetry

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// scrape is the Prometheus side of the meter provider: a reader that
// turns every instrument into the Prometheus exposition format, and the
// registry it writes to, which also holds the Go runtime's, the process's
// and the database pool's collectors. The registry is the process's own
// (no global default), so that two hosts in one test process do not mix.
type scrape struct {
	registry *prometheus.Registry
	reader   sdkmetric.Reader
}

func newScrape() (*scrape, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("go collector: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("process collector: %w", err)
	}
	// Names follow Prometheus conventions: dots become underscores, the
	// unit is a suffix (_seconds, _bytes), counters end in _total; the
	// instrumentation scope is not a label of every series.
	reader, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	return &scrape{registry: reg, reader: reader}, nil
}

// MetricsHandler serves the metrics in the Prometheus exposition format
// (GET /metrics on the operations port).
func (p *Providers) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(p.scrape.registry, promhttp.HandlerOpts{})
}

// Register adds a Prometheus collector (the database pool's) to what
// MetricsHandler serves. It is not exported over OTLP.
func (p *Providers) Register(c prometheus.Collector) error {
	return p.scrape.registry.Register(c)
}
