package app

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/audit"
)

// AuditRecords pages through the audit log, newest first.
func (s *Service) AuditRecords(ctx context.Context, f AuditFilter, pageToken string, size int) ([]audit.Record, string, error) {
	return listPage(ctx, s, "audit", pageToken, size, func(ctx context.Context, tx Tx, before string, limit int) ([]audit.Record, error) {
		return tx.Audit(ctx, f, before, limit)
	}, func(r audit.Record) string { return r.ID })
}

// Failures pages through the failed-authentication counts, newest minute
// first.
func (s *Service) Failures(ctx context.Context, pageToken string, size int) ([]audit.FailureCount, string, error) {
	return listPage(ctx, s, "failure", pageToken, size, func(ctx context.Context, tx Tx, pos string, limit int) ([]audit.FailureCount, error) {
		var after *audit.FailureCount
		if pos != "" {
			parts := strings.SplitN(pos, "/", 3)
			if len(parts) != 3 {
				return nil, badToken()
			}
			n, err := strconv.ParseInt(parts[0], 10, 64)
			if err != nil {
				return nil, badToken()
			}
			after = &audit.FailureCount{Minute: time.UnixMicro(n).UTC(), Source: parts[1], Reason: parts[2]}
		}
		return tx.Failures(ctx, after, limit)
	}, func(c audit.FailureCount) string {
		return strconv.FormatInt(c.Minute.UnixMicro(), 10) + "/" + c.Source + "/" + c.Reason
	})
}
