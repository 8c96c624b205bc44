package app

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// Version 1 of every form hashes, byte for byte, as the service's request
// structs did before forms had versions (the hashes below were computed by
// that code), so that the keys written then still replay.
func TestFormsVersion1AreTheLegacyHashes(t *testing.T) {
	lim := &principal.Limits{MaxEarnPoints: 1000, MaxAdjustPoints: 5, RatePerSecond: 50}
	for _, c := range []struct {
		want string
		req  func() (idem.Request, error)
	}{
		{"6b751ce67bc912b2ef1caafb8c010a170a4ce00d89c10349c25894a74e1b42c4", func() (idem.Request, error) {
			return createKeyRequest("shop", 90*24*time.Hour)
		}},
		{"a98fe016fa0777c7fe905a61b045c4553cc2cd2141bac1d1c69757955c660105", func() (idem.Request, error) {
			return rotateKeyRequest("fk_1", time.Hour, 48*time.Hour)
		}},
		{"1142a9c154cc15e9bed433e0151dc9c04915ccc59b34a17027d9422798f4847c", func() (idem.Request, error) {
			return revokeKeyRequest("fk_1")
		}},
		{"56e47d7e3dcf4ddcbe6ccc77b99e7f94ef182d5f433923d666f42f6f89c9019f", func() (idem.Request, error) {
			return createPrincipalRequest(NewPrincipal{ID: "shop", Roles: []principal.Role{"pos", "operator"}, Programmes: []string{"p1", "p2"}, Limits: lim})
		}},
		{"e1c0de7213e9cff86f2b85d917addd012e65e99dd17b1f7508bffd1e3a5416ed", func() (idem.Request, error) {
			return createPrincipalRequest(NewPrincipal{ID: "shop"})
		}},
		{"2a6e3c26cf7a738927dea7164a997d0e1325b739cb1a48718b717114c873680e", func() (idem.Request, error) {
			return updatePrincipalRequest(PrincipalUpdate{ID: "shop", Roles: []principal.Role{"pos"}, Programmes: []string{}, Limits: lim})
		}},
		{"67ca94f1624cbbfa7331dabaf5864e6c6843193adcc2743bd8a9ba3f2259eefb", func() (idem.Request, error) {
			return updatePrincipalRequest(PrincipalUpdate{ID: "shop"})
		}},
		{"61241516360b9244559d8884881a53dd9540ceb0fd37dac804bc231eecbc2297", func() (idem.Request, error) {
			return issuePartnerKeyRequest("pa-1", "p1", time.Hour)
		}},
	} {
		r, err := c.req()
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(r.Hash); r.Version != 1 || got != c.want {
			t.Errorf("%s: version %d hash %s, want version 1 hash %s", r.Method, r.Version, got, c.want)
		}
	}
}
