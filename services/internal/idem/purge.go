package idem

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/jobs"
)

// RunPurge runs purge — the deletion of a service's idempotency records
// older than its Retention — every interval until ctx ends, logging what
// it deleted from table and its failures. Every replica may run it: a
// purge deletes only the rows still there. The job is named after the
// table: "ledger-key-purge" for ledger_idempotency.
func RunPurge(ctx context.Context, every time.Duration, log *slog.Logger, table string, purge func(ctx context.Context) (int, error)) {
	jobs.Every(ctx, every, log, strings.TrimSuffix(table, "_idempotency")+"-key-purge", func(ctx context.Context) error {
		n, err := purge(ctx)
		if n > 0 {
			log.InfoContext(ctx, "idempotency keys purged", slog.String("table", table), slog.Int("records", n))
		}
		return err
	})
}
