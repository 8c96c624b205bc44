package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/fidelis-loyalty/fidelis/services/internal/pii"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/members"
	ledgerstore "github.com/fidelis-loyalty/fidelis/services/ledger/store"
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

// MasterKeysFile is the keyring file of the members' personal data: the
// one configured, else, on a SQLite file database, "<database file>.master-keys";
// "" when there is none.
func MasterKeysFile(configured, dsn string) string {
	if configured != "" {
		return configured
	}
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok && path != "" && path != ":memory:" {
		return path + ".master-keys"
	}
	return ""
}

// masterKeys loads the keyring of the members' personal data. On an
// embedded SQLite file without one configured, it is the file next to the
// database, made at the first start (fine for development; in production
// the keyring must not sit with the database and its backups, or erasure
// erases nothing); on an in-memory database, a keyring for the process.
// PostgreSQL and CockroachDB need one configured.
func (h *Host) masterKeys(ctx context.Context, c Config, db *sqldb.DB) (*pii.Keyring, error) {
	if c.MasterKeys != nil {
		return c.MasterKeys, nil
	}
	path := MasterKeysFile(c.MasterKeysFile, db.DSN)
	if path == "" {
		if db.Dialect != sqldb.SQLite {
			return nil, errors.New("the members' personal data needs master keys: give --master-keys (env FIDELIS_MASTER_KEYS_FILE), a file made by `fidelis keys master-keyring`")
		}
		text, err := pii.NewKeyringText("k1")
		if err != nil {
			return nil, err
		}
		h.log.WarnContext(ctx, "in-memory database: the master keys live as long as the process")
		return pii.ParseKeyring(strings.NewReader(text))
	}
	if c.MasterKeysFile == "" {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			text, err := pii.NewKeyringText("k1")
			if err != nil {
				return nil, err
			}
			if err := WriteSecretFile(path, strings.TrimSpace(text)); err != nil && !errors.Is(err, fs.ErrExist) {
				return nil, fmt.Errorf("master keys: %w", err)
			}
		}
		h.log.WarnContext(ctx, "the master keys live next to the database: fine for development, not for production (give --master-keys)",
			slog.String("file", path))
	}
	return pii.LoadKeyring(path)
}

// RewrapMemberKeys rewraps every member's data key with the first master
// key of the keyring (keysFile, default next to a SQLite file), after a
// rotation put a new key first; it returns how many it rewrapped. It runs
// with the runtime role's rights.
func RewrapMemberKeys(ctx context.Context, dsn, keysFile string, log *slog.Logger) (int, error) {
	path := MasterKeysFile(keysFile, dsn)
	if path == "" {
		return 0, errors.New("give --master-keys")
	}
	keys, err := pii.LoadKeyring(path)
	if err != nil {
		return 0, err
	}
	db, err := sqldb.Open(ctx, dsn, sqldb.Options{})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	v, err := members.New(keys, ledgerstore.NewVault(db), nil, members.Options{Logger: log})
	if err != nil {
		return 0, err
	}
	return v.Rewrap(ctx)
}

// NewMasterKeyring is the text of a new keyring for --master-keys: a
// master key named id and a lookup key, random.
func NewMasterKeyring(id string) (string, error) { return pii.NewKeyringText(id) }
