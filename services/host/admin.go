package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
)

// AdminKeyFile is the file that holds the first operator key: the one
// configured, else, on a SQLite file database, "<database file>.admin-key";
// "" when there is none.
func AdminKeyFile(configured, dsn string) string {
	if configured != "" {
		return configured
	}
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok && path != "" && path != ":memory:" {
		return path + ".admin-key"
	}
	return ""
}

// bootstrapAdmin makes sure there is an operator key to start with, so
// that a fresh installation can be administered (keys made, partners
// added) over the API:
//
//   - the admin key file exists (a Kubernetes Secret, or made by an earlier
//     start): its key is registered for the "admin" principal if it is not
//     yet; replicas starting at once register it once (its id is a primary
//     key);
//   - it does not exist: the admin principal's first key is made and
//     written to the file, readable by this user only, unless the principal
//     has a key already (another replica starting at the same time made it,
//     in a serializable transaction, so exactly one is made; or an earlier
//     start did): then `fidelis keys create` makes another.
func (h *Host) bootstrapAdmin(ctx context.Context, c Config, db *sqldb.DB) error {
	path := AdminKeyFile(c.AdminKeyFile, db.DSN)
	if path == "" {
		h.log.InfoContext(ctx, "no admin key file: make operator keys with `fidelis keys create`")
		return nil
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		usable, err := h.Access.ImportAdminKey(ctx, strings.TrimSpace(string(b)))
		if err != nil {
			return fmt.Errorf("admin key file %s: %w", path, err)
		}
		if !usable {
			h.log.WarnContext(ctx, "the admin key file holds a revoked or expired key", slog.String("file", path))
		} else {
			h.log.InfoContext(ctx, "admin key", slog.String("file", path))
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("admin key file: %w", err)
	}
	key, made, err := h.Access.CreateFirstAdminKey(ctx)
	if err != nil {
		return fmt.Errorf("admin key: %w", err)
	}
	if !made {
		h.log.WarnContext(ctx, "admin key file does not exist and the admin principal has a key already: make another with `fidelis keys create --principal admin`",
			slog.String("file", path))
		return nil
	}
	if err := WriteSecretFile(path, key); err != nil {
		if rerr := h.Access.RevokeAdminKey(ctx, key); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return fmt.Errorf("admin key file (the key made for it is revoked): %w", err)
	}
	h.log.InfoContext(ctx, "admin key created", slog.String("file", path))
	return nil
}

// WriteSecretFile writes a secret to a new file that only this user can
// read; it fails if the file exists.
func WriteSecretFile(path, secret string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(secret + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}
