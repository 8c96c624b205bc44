package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	accessdomain "github.com/fidelis-loyalty/fidelis/services/access/domain"
	"github.com/fidelis-loyalty/fidelis/services/host"
)

const keysUsage = `usage: fidelis keys <create|list|rotate|revoke|generate|master-keyring|rewrap> [flags]

Manages API keys on the database directly (--db): whoever can reach the
database administers its keys. The same is AccessService over gRPC, for
operators.

  create --principal ID [--roles R,... --programmes P,...] [--ttl D]
         makes a key; with --roles, its principal too (bound to the
         programmes, "*" for every one). The key is printed on stdout, once.
  list   [--principal ID]
  rotate KEY_ID [--overlap D] [--ttl D]
         makes a new key for the same principal, printed on stdout; the old
         one keeps working for the overlap (default 0: it stops at once).
  revoke KEY_ID
  master-keyring [--id ID]
         prints a new keyring of the members' personal data (a master key
         named ID, default k1, and a lookup key) for --master-keys.
  rewrap --master-keys FILE
         rewraps every member's data key with the keyring's first master
         key (after a rotation: see README, Members and personal data).
  generate
         prints a new random key, registered nowhere, for a Kubernetes
         Secret: fidelis serve registers the key of --admin-key-file (for
         the admin principal) and of --service-key-file (for a principal of
         its services) on first start.

Roles: ` + "%s" + `
`

func keys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := fmt.Sprintf(keysUsage, host.RoleNames())
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	cmd, args := args[0], args[1:]
	var c commonFlags
	fs := flag.NewFlagSet("keys "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	c.register(fs)
	principal := fs.String("principal", "", "the principal (create, list)")
	roles := fs.String("roles", "", "comma-separated roles of a new principal (create)")
	programmes := fs.String("programmes", "*", "comma-separated programmes a new principal is bound to, * for every one (create)")
	ttl := fs.Duration("ttl", 0, "how long the key works; 0 until revoked (create, rotate)")
	overlap := fs.Duration("overlap", 0, "how long the old key keeps working (rotate)")
	maxEarn := fs.Int64("max-earn-points", -1, "largest explicit-points earn of a new principal (default: by its roles)")
	maxAdjust := fs.Int64("max-adjust-points", -1, "largest adjustment of a new principal (default: by its roles)")
	rate := fs.Int64("rate-limit", -1, "requests per second of a new principal (default: the server's)")
	masterKeys := fs.String("master-keys", envOr("FIDELIS_MASTER_KEYS_FILE", ""), "keyring file (rewrap; default on a SQLite file: <file>.master-keys)")
	masterID := fs.String("id", "k1", "the new master key's id (master-keyring)")
	switch cmd {
	case "create", "list", "rotate", "revoke":
	case "master-keyring":
		if err := fs.Parse(args); err != nil {
			return err
		}
		text, err := host.NewMasterKeyring(*masterID)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, text)
		return nil
	case "rewrap":
		if err := fs.Parse(args); err != nil {
			return err
		}
		log, err := c.logger(stderr)
		if err != nil {
			return err
		}
		n, err := host.RewrapMemberKeys(ctx, c.db, *masterKeys, log)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "%d member keys rewrapped\n", n)
		return nil
	case "generate":
		_, key, _, err := accessdomain.NewKey()
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, key)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown keys command %q", cmd)
	}
	// The key id may come before the flags (keys rotate KEY_ID --overlap 1h).
	var positional []string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		positional, args = args[:1], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	positional = append(positional, fs.Args()...)
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	admin, err := host.OpenKeyAdmin(ctx, c.db, log)
	if err != nil {
		return err
	}
	defer admin.Close()
	keyID := func() (string, error) {
		if len(positional) != 1 {
			return "", fmt.Errorf("keys %s: give one key id", cmd)
		}
		return positional[0], nil
	}
	switch cmd {
	case "create":
		if *principal == "" {
			return errors.New("keys create: --principal is required")
		}
		n := host.NewKey{Principal: *principal, Roles: splitList(*roles), TTL: *ttl}
		if n.Roles != nil {
			n.Programmes = splitList(*programmes)
		}
		for _, l := range []struct {
			v   int64
			dst **int64
		}{{*maxEarn, &n.MaxEarnPoints}, {*maxAdjust, &n.MaxAdjustPoints}, {*rate, &n.RatePerSecond}} {
			if l.v >= 0 {
				v := l.v
				*l.dst = &v
			}
		}
		secret, info, made, err := admin.CreateKey(ctx, n)
		if err != nil {
			return err
		}
		if made {
			fmt.Fprintf(stderr, "principal %s made: roles %s, programmes %s\n", info.Principal, strings.Join(info.Roles, ","), strings.Join(info.Programmes, ","))
		}
		fmt.Fprintf(stderr, "key %s of %s made; it is shown this once:\n", info.ID, info.Principal)
		fmt.Fprintln(stdout, secret)
	case "list":
		infos, err := admin.Keys(ctx, *principal)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(w, "KEY\tPRINCIPAL\tROLES\tPROGRAMMES\tSTATE\tCREATED\tEXPIRES\tREPLACED BY")
		for _, i := range infos {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.ID, i.Principal, strings.Join(i.Roles, ","), strings.Join(i.Programmes, ","),
				i.State, when(i.Created), when(i.Expires), i.ReplacedBy)
		}
		return w.Flush()
	case "rotate":
		id, err := keyID()
		if err != nil {
			return err
		}
		secret, made, old, err := admin.RotateKey(ctx, id, *overlap, *ttl)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "key %s of %s made; %s stops at %s; the new key is shown this once:\n", made.ID, made.Principal, old.ID, when(old.Expires))
		fmt.Fprintln(stdout, secret)
	case "revoke":
		id, err := keyID()
		if err != nil {
			return err
		}
		info, err := admin.RevokeKey(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "key %s of %s revoked at %s\n", info.ID, info.Principal, when(info.Revoked))
	}
	return nil
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}
