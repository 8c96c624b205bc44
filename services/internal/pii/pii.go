// Package pii keeps members' personal data so that it can be destroyed:
// crypto-shredding. Each member's personal data is sealed (AES-256-GCM)
// with a key of the member's own (the data key); the data key is stored
// only wrapped (sealed) by a master key, which does not live in the
// database but in a file or the environment (see Keyring). Erasing a
// member destroys its wrapped data key: whatever copies of the sealed data
// remain (backups, replicas, rows not yet vacuumed) can no longer be read.
//
// Identifiers (card numbers, e-mail addresses, phone numbers) are found
// through keyed hashes, HMAC-SHA-256 with a lookup key that is a secret of
// the installation, never a plain hash: a plain SHA-256 of an e-mail
// address is found again by hashing a list of addresses. The lookup hashes
// are personal data too, and are deleted with the member.
//
// The standard library's AES-GCM, HMAC and HKDF do the cryptography: they
// are the well-kept implementations, constant-time and FIPS-validated in
// Go's FIPS mode; what this package adds is the key hierarchy and the
// binding of each ciphertext to its member and field.
package pii

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
)

// KeySize is the size of every key: AES-256, HMAC-SHA-256.
const KeySize = 32

// lookupName is the keyring entry of the lookup key.
const lookupName = "lookup"

// ErrUnknownMasterKey is the error of a data key wrapped by a master key
// the keyring no longer holds.
var ErrUnknownMasterKey = errors.New("pii: the data key is wrapped by a master key not in the keyring")

// ErrCorrupt is the error of a ciphertext that does not open: altered,
// truncated, or sealed for another member or field.
var ErrCorrupt = errors.New("pii: ciphertext does not open (altered, or sealed for another member or field)")

// Keyring is the installation's master keys, by id, and its lookup key.
// The first master key is the current one, which wraps new data keys;
// the others only unwrap the data keys they wrapped, until a rotation has
// rewrapped them all (see Rewrap) and they can be removed.
type Keyring struct {
	current string
	masters map[string]cipher.AEAD
	lookup  []byte
}

// ParseKeyring reads a keyring: one key per line, "<id> <base64 of 32
// bytes>", the current master key first, and one line "lookup <base64>"
// for the lookup key. Blank lines and lines starting with # are ignored.
func ParseKeyring(r io.Reader) (*Keyring, error) {
	k := &Keyring{masters: map[string]cipher.AEAD{}}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, enc, ok := strings.Cut(line, " ")
		if !ok || !validID(id) {
			return nil, fmt.Errorf("pii: keyring line %d: want \"<id> <base64 key>\", the id of letters, digits, - and _", n)
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
		if err != nil || len(key) != KeySize {
			return nil, fmt.Errorf("pii: keyring line %d (%s): the key is not the base64 of %d bytes", n, id, KeySize)
		}
		if id == lookupName {
			if k.lookup != nil {
				return nil, fmt.Errorf("pii: keyring line %d: a second lookup key", n)
			}
			k.lookup = key
			continue
		}
		if _, dup := k.masters[id]; dup {
			return nil, fmt.Errorf("pii: keyring line %d: master key %s twice", n, id)
		}
		if k.masters[id], err = newAEAD(key); err != nil {
			return nil, err
		}
		if k.current == "" {
			k.current = id
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("pii: keyring: %w", err)
	}
	if k.current == "" || k.lookup == nil {
		return nil, errors.New("pii: a keyring needs a master key and a lookup key")
	}
	return k, nil
}

// LoadKeyring reads the keyring file at path.
func LoadKeyring(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pii: %w", err)
	}
	defer f.Close()
	return ParseKeyring(f)
}

// NewKeyringText is a new keyring's text: a master key named id and a
// lookup key, random.
func NewKeyringText(id string) (string, error) {
	if !validID(id) || id == lookupName {
		return "", fmt.Errorf("pii: %q cannot name a master key", id)
	}
	var b strings.Builder
	b.WriteString("# Fidelis master keys: the first wraps new member keys, the others only\n")
	b.WriteString("# unwrap old ones until a rotation has rewrapped them. Keep this file out\n")
	b.WriteString("# of the database and its backups; losing it loses every member's profile.\n")
	for _, name := range []string{id, lookupName} {
		key := make([]byte, KeySize)
		if _, err := rand.Read(key); err != nil {
			return "", fmt.Errorf("pii: %w", err)
		}
		fmt.Fprintf(&b, "%s %s\n", name, base64.StdEncoding.EncodeToString(key))
	}
	return b.String(), nil
}

// Current is the id of the master key that wraps new data keys.
func (k *Keyring) Current() string { return k.current }

// WrappedKey is a member's data key as stored: sealed by the master key
// MasterID.
type WrappedKey struct {
	MasterID string
	Sealed   []byte
}

// NewDataKey makes a member's data key, returned in clear (to seal with)
// and wrapped by the current master key (to store).
func (k *Keyring) NewDataKey(memberID string) ([]byte, WrappedKey, error) {
	dek := make([]byte, KeySize)
	if _, err := rand.Read(dek); err != nil {
		return nil, WrappedKey{}, fmt.Errorf("pii: %w", err)
	}
	w, err := k.wrap(memberID, dek)
	return dek, w, err
}

// Unwrap is the data key that w wraps for memberID.
func (k *Keyring) Unwrap(memberID string, w WrappedKey) ([]byte, error) {
	aead, ok := k.masters[w.MasterID]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownMasterKey, w.MasterID)
	}
	dek, err := open(aead, wrapAAD(memberID, w.MasterID), w.Sealed)
	if err != nil || len(dek) != KeySize {
		return nil, ErrCorrupt
	}
	return dek, nil
}

// Rewrap is w wrapped by the current master key instead, and whether that
// changed anything (false: it already was).
func (k *Keyring) Rewrap(memberID string, w WrappedKey) (WrappedKey, bool, error) {
	if w.MasterID == k.current {
		return w, false, nil
	}
	dek, err := k.Unwrap(memberID, w)
	if err != nil {
		return w, false, err
	}
	nw, err := k.wrap(memberID, dek)
	return nw, err == nil, err
}

func (k *Keyring) wrap(memberID string, dek []byte) (WrappedKey, error) {
	sealed, err := seal(k.masters[k.current], wrapAAD(memberID, k.current), dek)
	return WrappedKey{MasterID: k.current, Sealed: sealed}, err
}

// Lookup is the keyed hash that finds a member by an identifier of a kind
// ("card", "email", "phone", ...), normalised first (see Normalize).
func (k *Keyring) Lookup(kind, value string) []byte {
	m := hmac.New(sha256.New, k.lookup)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(Normalize(kind, value)))
	return m.Sum(nil)
}

// Normalize is the form of an identifier that its lookup hash is of, so
// that " Ann@Example.COM" finds "ann@example.com": e-mail addresses
// trimmed and lower-cased, phone numbers their digits (and a leading +),
// anything else trimmed.
func Normalize(kind, value string) string {
	value = strings.TrimSpace(value)
	switch kind {
	case "email":
		return strings.ToLower(value)
	case "phone":
		var b strings.Builder
		for i, r := range value {
			if unicode.IsDigit(r) || r == '+' && i == 0 {
				b.WriteRune(r)
			}
		}
		return b.String()
	}
	return value
}

// Seal seals plaintext, the field of memberID's personal data, with the
// member's data key. The ciphertext opens only for that member and field.
func Seal(dek []byte, memberID, field string, plaintext []byte) ([]byte, error) {
	aead, err := newAEAD(dek)
	if err != nil {
		return nil, err
	}
	return seal(aead, dataAAD(memberID, field), plaintext)
}

// Open opens what Seal sealed for memberID and field.
func Open(dek []byte, memberID, field string, ciphertext []byte) ([]byte, error) {
	aead, err := newAEAD(dek)
	if err != nil {
		return nil, err
	}
	return open(aead, dataAAD(memberID, field), ciphertext)
}

// DeriveKey is a key for purpose derived from the lookup key (HKDF), for
// other keyed hashes of the installation that must stay stable across
// master key rotations.
func (k *Keyring) DeriveKey(purpose string) ([]byte, error) {
	key, err := hkdf.Key(sha256.New, k.lookup, nil, "fidelis pii "+purpose, KeySize)
	if err != nil {
		return nil, fmt.Errorf("pii: %w", err)
	}
	return key, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("pii: a key is %d bytes, not %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("pii: %w", err)
	}
	// A random 96-bit nonce per message: far below the 2^32 messages per
	// key where collisions start to matter, as each member has its own.
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("pii: %w", err)
	}
	return aead, nil
}

// seal is nonce || AES-GCM(plaintext, aad).
func seal(aead cipher.AEAD, aad, plaintext []byte) ([]byte, error) {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("pii: %w", err)
	}
	return aead.Seal(nonce, nonce, plaintext, aad), nil
}

func open(aead cipher.AEAD, aad, sealed []byte) ([]byte, error) {
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrCorrupt
	}
	out, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], aad)
	if err != nil {
		return nil, ErrCorrupt
	}
	return out, nil
}

// The additional data binds a ciphertext to what it is of: a wrapped key
// to its member and master key, data to its member and field, so that
// neither can be moved to another row and still open.
func wrapAAD(memberID, masterID string) []byte {
	return []byte("fidelis/pii/v1/key\x00" + memberID + "\x00" + masterID)
}

func dataAAD(memberID, field string) []byte {
	return []byte("fidelis/pii/v1/data\x00" + memberID + "\x00" + field)
}

func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r == '-' || r == '_' || r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r))) {
			return false
		}
	}
	return true
}
