package pii_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/fidelis-loyalty/fidelis/services/internal/pii"
)

func keyring(t *testing.T, text string) *pii.Keyring {
	t.Helper()
	k, err := pii.ParseKeyring(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newKeyringText(t *testing.T, id string) string {
	t.Helper()
	text, err := pii.NewKeyringText(id)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// A member's data opens with its data key, for that member and field
// only; the data key, stored wrapped, unwraps for that member only.
func TestSealAndWrap(t *testing.T) {
	k := keyring(t, newKeyringText(t, "k1"))
	dek, wrapped, err := k.NewDataKey("m-1")
	if err != nil {
		t.Fatal(err)
	}
	if wrapped.MasterID != "k1" || bytes.Contains(wrapped.Sealed, dek) {
		t.Fatalf("wrapped %+v: want it wrapped by k1, the key not in it", wrapped)
	}
	sealed, err := pii.Seal(dek, "m-1", "profile", []byte(`{"email":"ann@example.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("ann@example.com")) {
		t.Fatal("the sealed data holds the plaintext")
	}
	again, err := k.Unwrap("m-1", wrapped)
	if err != nil || !bytes.Equal(again, dek) {
		t.Fatalf("unwrap: %v", err)
	}
	if got, err := pii.Open(again, "m-1", "profile", sealed); err != nil || string(got) != `{"email":"ann@example.com"}` {
		t.Fatalf("open: %q %v", got, err)
	}
	for name, f := range map[string]func() error{
		"another member's data key": func() error { _, err := k.Unwrap("m-2", wrapped); return err },
		"another member's data":     func() error { _, err := pii.Open(dek, "m-2", "profile", sealed); return err },
		"another field":             func() error { _, err := pii.Open(dek, "m-1", "identifiers", sealed); return err },
		"altered": func() error {
			bad := bytes.Clone(sealed)
			bad[len(bad)-1] ^= 1
			_, err := pii.Open(dek, "m-1", "profile", bad)
			return err
		},
		"truncated": func() error { _, err := pii.Open(dek, "m-1", "profile", sealed[:10]); return err },
	} {
		if err := f(); !errors.Is(err, pii.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	if s2, _ := pii.Seal(dek, "m-1", "profile", []byte(`{"email":"ann@example.com"}`)); bytes.Equal(s2, sealed) {
		t.Error("sealing twice gave the same bytes: the nonce is not random")
	}
}

// Rotation: a new master key goes first; data keys wrapped by the old one
// still unwrap, are rewrapped by the new one, and once all are, the old
// one can go.
func TestRotation(t *testing.T) {
	old := newKeyringText(t, "k1")
	k1 := keyring(t, old)
	dek, w1, err := k1.NewDataKey("m-1")
	if err != nil {
		t.Fatal(err)
	}
	fresh := newKeyringText(t, "k2")
	var k2line, lookupLine string
	for _, l := range strings.Split(fresh, "\n") {
		if strings.HasPrefix(l, "k2 ") {
			k2line = l
		}
	}
	for _, l := range strings.Split(old, "\n") {
		if strings.HasPrefix(l, "lookup ") {
			lookupLine = l
		}
	}
	rotated := keyring(t, k2line+"\n"+old)
	if rotated.Current() != "k2" {
		t.Fatalf("current %s, want k2 (the first)", rotated.Current())
	}
	if got, err := rotated.Unwrap("m-1", w1); err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("unwrap k1's key after rotation: %v", err)
	}
	w2, changed, err := rotated.Rewrap("m-1", w1)
	if err != nil || !changed || w2.MasterID != "k2" {
		t.Fatalf("rewrap: %+v %v %v", w2, changed, err)
	}
	if _, changed, _ := rotated.Rewrap("m-1", w2); changed {
		t.Error("rewrapping a key the current master wraps changed it")
	}
	onlyNew := keyring(t, k2line+"\n"+lookupLine)
	if got, err := onlyNew.Unwrap("m-1", w2); err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("unwrap the rewrapped key without k1: %v", err)
	}
	if _, err := onlyNew.Unwrap("m-1", w1); !errors.Is(err, pii.ErrUnknownMasterKey) {
		t.Errorf("unwrap k1's key without k1: %v, want ErrUnknownMasterKey", err)
	}
	if !bytes.Equal(onlyNew.Lookup("email", "a@b.c"), k1.Lookup("email", "a@b.c")) {
		t.Error("the lookup hashes changed with the master key: they are keyed by the lookup key alone")
	}
}

// Lookups are keyed: the same identifier hashes alike under one keyring,
// whatever its spelling, and differently under another installation's, and
// never as a plain SHA-256 of it.
func TestLookup(t *testing.T) {
	a := keyring(t, newKeyringText(t, "k1"))
	b := keyring(t, newKeyringText(t, "k1"))
	if !bytes.Equal(a.Lookup("email", " Ann@Example.COM "), a.Lookup("email", "ann@example.com")) {
		t.Error("e-mail spellings hash apart")
	}
	if !bytes.Equal(a.Lookup("phone", "+33 6 12-34-56-78"), a.Lookup("phone", "+33612345678")) {
		t.Error("phone spellings hash apart")
	}
	if bytes.Equal(a.Lookup("email", "ann@example.com"), b.Lookup("email", "ann@example.com")) {
		t.Error("two installations' lookup hashes agree: the hash is not keyed")
	}
	if bytes.Equal(a.Lookup("card", "123"), a.Lookup("email", "123")) {
		t.Error("a card and an e-mail with the same text hash alike")
	}
}

func TestParseKeyringRefuses(t *testing.T) {
	good := newKeyringText(t, "k1")
	for name, text := range map[string]string{
		"empty":          "",
		"no lookup key":  strings.Join(strings.Split(good, "\n")[:4], "\n"),
		"no master key":  strings.Join(append(strings.Split(good, "\n")[:3], strings.Split(good, "\n")[4]), "\n"),
		"short key":      "k1 " + "AAAA" + "\nlookup " + strings.Repeat("A", 43) + "=\n",
		"bad id":         "k 1 AAAA\n",
		"twice":          good + strings.Split(good, "\n")[3] + "\n",
		"no key on line": "k1\n",
	} {
		if _, err := pii.ParseKeyring(strings.NewReader(text)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	if _, err := pii.NewKeyringText("lookup"); err == nil {
		t.Error("a master key named lookup")
	}
}

func FuzzOpen(f *testing.F) {
	f.Add([]byte("x"), "m", "f")
	k, err := pii.ParseKeyring(strings.NewReader(mustText(f)))
	if err != nil {
		f.Fatal(err)
	}
	dek, _, err := k.NewDataKey("m")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, member, field string) {
		sealed, err := pii.Seal(dek, member, field, data)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pii.Open(dek, member, field, sealed)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round trip: %v", err)
		}
		if _, err := pii.Open(dek, member+"x", field, sealed); err == nil {
			t.Fatal("opened for another member")
		}
	})
}

func mustText(f *testing.F) string {
	text, err := pii.NewKeyringText("k1")
	if err != nil {
		f.Fatal(err)
	}
	return text
}
