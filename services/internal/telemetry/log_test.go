package telemetry_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/fidelis-loyalty/fidelis/services/internal/telemetry"
)

func TestLogHandler(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(telemetry.LogHandler(slog.NewTextHandler(&b, nil))).With(slog.String("service", "ledger"))
	ctx, span := sdktrace.NewTracerProvider().Tracer("test").Start(context.Background(), "request")
	defer span.End()

	log.InfoContext(ctx, "in a span")
	log.InfoContext(context.Background(), "in no span")
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), b.String())
	}
	want := "service=ledger trace_id=" + span.SpanContext().TraceID().String() + " span_id=" + span.SpanContext().SpanID().String()
	if !strings.Contains(lines[0], want) {
		t.Errorf("line in a span: %q, want it to have %q", lines[0], want)
	}
	if strings.Contains(lines[1], "trace_id") || strings.Contains(lines[1], "span_id") {
		t.Errorf("line in no span: %q, want no ids", lines[1])
	}
	if h := telemetry.LogHandler(log.Handler()); h != log.Handler() {
		t.Error("LogHandler wraps a handler it made again")
	}
}
