// Package telemetry sets up OpenTelemetry traces and metrics. Export is off
// unless an OTLP endpoint is given; without one the providers are no-ops.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
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
}

// Setup builds providers exporting over OTLP/gRPC to endpoint (host:port).
// With an empty endpoint the exporters follow the standard OTEL_EXPORTER_OTLP_*
// environment if OTEL_EXPORTER_OTLP_ENDPOINT is set, and are off otherwise
// (no-op providers).
func Setup(ctx context.Context, service, version, endpoint string, insecure bool) (*Providers, error) {
	p := &Providers{
		Tracer:     tracenoop.NewTracerProvider(),
		Meter:      metricnoop.NewMeterProvider(),
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
	if endpoint == "" && os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" {
		return p, nil
	}
	// Schemaless: resource.Default() carries the SDK's own schema URL,
	// which merging with another one refuses.
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName(service), semconv.ServiceVersion(version)))
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
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
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(mexp)), sdkmetric.WithResource(res))
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
