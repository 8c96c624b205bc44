package app

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/fidelis-loyalty/fidelis/services/internal/audit"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/paging"
)

// AuditRecords pages through the audit log, newest first. A page token
// continues only a request with the same filter.
func (s *Service) AuditRecords(ctx context.Context, f AuditFilter, pageToken string, size int) ([]audit.Record, string, error) {
	if err := checkRange(f.Since, f.Until); err != nil {
		return nil, "", err
	}
	scope := paging.Scope("access.audit", f.Principal, f.Method, micros(f.Since), micros(f.Until))
	return listPage(ctx, s, scope, pageToken, size, func(ctx context.Context, tx Tx, pos string, limit int) ([]audit.Record, error) {
		before := pos
		if id, err := uuid.FromBytes([]byte(pos)); err == nil {
			before = id.String()
		}
		return tx.Audit(ctx, f, before, limit)
	}, auditPosition)
}

// auditPosition is a record's position: its id, a UUID, as its 16 bytes,
// so that a token fits the 64 characters that partners' ListAudit takes.
func auditPosition(r audit.Record) string {
	if id, err := uuid.Parse(r.ID); err == nil {
		return string(id[:])
	}
	return r.ID
}

// Failures pages through the failed-authentication counts, newest minute
// first. A page token continues only a request with the same filter.
func (s *Service) Failures(ctx context.Context, f FailureFilter, pageToken string, size int) ([]audit.FailureCount, string, error) {
	if err := checkRange(f.Since, f.Until); err != nil {
		return nil, "", err
	}
	scope := paging.Scope("access.failures", micros(f.Since), micros(f.Until))
	return listPage(ctx, s, scope, pageToken, size, func(ctx context.Context, tx Tx, pos string, limit int) ([]audit.FailureCount, error) {
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
		return tx.Failures(ctx, f, after, limit)
	}, func(c audit.FailureCount) string {
		return strconv.FormatInt(c.Minute.UnixMicro(), 10) + "/" + c.Source + "/" + c.Reason
	})
}

// checkRange refuses a time range that ends before it starts.
func checkRange(since, until time.Time) error {
	if !since.IsZero() && !until.IsZero() && !until.After(since) {
		return fault.Invalid("end_time", "must be after start_time")
	}
	return nil
}

// micros is a time filter as a page token's scope holds it: "" for none.
func micros(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}
