// Package telemetry sets up OpenTelemetry traces and metrics. Metrics are
// always served for Prometheus to scrape (MetricsHandler); OTLP export of
// traces and metrics is off unless an endpoint is given (without one the
// tracer provider is a no-op).
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Providers are the telemetry providers to instrument with.
type Providers struct {
	Tracer     trace.TracerProvider
	Meter      metric.MeterProvider
	Propagator propagation.TextMapPropagator
	shutdown   []func(context.Context) error
	scrape     *scrape
}

// Setup builds providers exporting over OTLP/gRPC to endpoint (host:port).
// With an empty endpoint the exporters follow the standard OTEL_EXPORTER_OTLP_*
// environment if OTEL_EXPORTER_OTLP_ENDPOINT is set, and are off otherwise
// (no-op tracer provider). The meter provider always has the Prometheus
// reader, and the OTLP one besides when export is on.
func Setup(ctx context.Context, service, version, endpoint string, insecure bool) (*Providers, error) {
	p := &Providers{
		Tracer:     tracenoop.NewTracerProvider(),
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
	// Schemaless: the default resource's schema is the SDK's semconv
	// release, which need not be the one imported here.
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName(service), semconv.ServiceVersion(version)))
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	if p.scrape, err = newScrape(); err != nil {
		return nil, err
	}
	meterOpts := []sdkmetric.Option{sdkmetric.WithReader(p.scrape.reader), sdkmetric.WithResource(res)}
	if endpoint == "" && os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" {
		mp := sdkmetric.NewMeterProvider(meterOpts...)
		p.Meter = mp
		p.shutdown = append(p.shutdown, mp.Shutdown)
		return p, nil
	}
	var topts []otlptracegrpc.Option
	var mopts []otlpmetricgrpc.Option
	if endpoint != "" {
		topts = append(topts, otlptracegrpc.WithEndpoint(endpoint))
		mopts = append(mopts, otlpmetricgrpc.WithEndpoint(endpoint))
	}
	if insecure {
		topts = append(topts, otlptracegrpc.WithInsecure())
		mopts = append(mopts, otlpmetricgrpc.WithInsecure())
	}
	texp, err := otlptracegrpc.New(ctx, topts...)
	if err != nil {
		return nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	mexp, err := otlpmetricgrpc.New(ctx, mopts...)
	if err != nil {
		return nil, fmt.Errorf("otlp metric exporter: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(texp), sdktrace.WithResource(res))
	mp := sdkmetric.NewMeterProvider(append(meterOpts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(mexp)))...)
	p.Tracer, p.Meter = tp, mp
	p.shutdown = append(p.shutdown, tp.Shutdown, mp.Shutdown)
	return p, nil
}

// Shutdown flushes and stops the exporters.
func (p *Providers) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range p.shutdown {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}
