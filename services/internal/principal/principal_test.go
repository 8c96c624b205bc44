package principal

import (
	"context"
	"slices"
	"testing"
)

func TestProgrammes(t *testing.T) {
	all := Principal{ID: "a", Roles: []Role{POS}, Programmes: []string{AllProgrammes}}
	some := Principal{ID: "b", Roles: []Role{POS}, Programmes: []string{"fr", "be"}}
	if !all.Allows("fr") || !all.Everywhere() || all.CheckEverywhere() != nil {
		t.Fatal("a principal of every programme is refused one")
	}
	if !some.Allows("be") || some.Allows("de") || some.CheckProgramme("de") == nil || some.CheckEverywhere() == nil {
		t.Fatal("a principal of some programmes reaches another, or all")
	}
	if (Principal{}).Allows("fr") || (Principal{}).Everywhere() || Of(context.Background()).Allows("fr") {
		t.Fatal("the zero principal is allowed something")
	}
}

// A service acting for a principal is narrowed to the programmes of both,
// takes its partner, and keeps its own id (its idempotency key space).
func TestDelegation(t *testing.T) {
	svc := System("fidelis-rewards")
	pos := Principal{ID: "pos-fr", Roles: []Role{POS}, Programmes: []string{"fr"}}
	d := svc.Delegated(pos.Delegation())
	if d.ID != "fidelis-rewards" || d.Actor() != "pos-fr" || !slices.Equal(d.Programmes, []string{"fr"}) || !d.Has(Service) {
		t.Fatalf("delegated %+v", d)
	}
	narrow := Principal{ID: "svc", Roles: []Role{Service}, Programmes: []string{"be", "fr"}}
	if got := narrow.Delegated(Delegation{ID: "x", Programmes: []string{"fr", "de"}}); !slices.Equal(got.Programmes, []string{"fr"}) {
		t.Fatalf("intersection %v", got.Programmes)
	}
	if got := narrow.Delegated(Delegation{ID: "x", Programmes: []string{"de"}}); got.Allows("de") || got.Allows("fr") || got.Everywhere() {
		t.Fatalf("no common programme, yet %v", got.Programmes)
	}
	if got := narrow.Delegated(Delegation{ID: "x", Programmes: []string{AllProgrammes}}); !slices.Equal(got.Programmes, narrow.Programmes) {
		t.Fatalf("for a principal of every programme: %v", got.Programmes)
	}
	p := Delegation{ID: "partner:p1", Programmes: []string{"fr"}, PartnerID: "p1"}
	if got := svc.Delegated(p); got.PartnerID != "p1" {
		t.Fatalf("partner %q", got.PartnerID)
	}
}

func TestValidate(t *testing.T) {
	ok := Principal{ID: "pos-paris", Roles: []Role{POS}, Programmes: []string{"default"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]Principal{
		"bad id":          {ID: "POS Paris", Roles: []Role{POS}, Programmes: []string{"d"}},
		"no role":         {ID: "x", Programmes: []string{"d"}},
		"unknown role":    {ID: "x", Roles: []Role{"admin"}, Programmes: []string{"d"}},
		"no programme":    {ID: "x", Roles: []Role{POS}},
		"all and some":    {ID: "x", Roles: []Role{POS}, Programmes: []string{"*", "d"}},
		"partner, no id":  {ID: "x", Roles: []Role{Partner}, Programmes: []string{"d"}},
		"id, not partner": {ID: "x", Roles: []Role{POS}, Programmes: []string{"d"}, PartnerID: "p"},
		"negative limits": {ID: "x", Roles: []Role{POS}, Programmes: []string{"d"}, Limits: Limits{MaxEarnPoints: -1}},
		"empty programme": {ID: "x", Roles: []Role{POS}, Programmes: []string{""}},
	} {
		if p.Validate() == nil {
			t.Errorf("%s: valid", name)
		}
	}
}
