package authz_test

import (
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"strings"
	"testing"

	"google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/authz"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// Methods are the full names of every RPC of every Fidelis service (every
// service in a fidelis.* package of the generated code), of the health and
// reflection services every server has, and of the long-running operations
// service the ledger serves.
func Methods(t testing.TB) []string {
	t.Helper()
	var out []string
	add := func(sd protoreflect.ServiceDescriptor) {
		for i := range sd.Methods().Len() {
			out = append(out, "/"+string(sd.FullName())+"/"+string(sd.Methods().Get(i).Name()))
		}
	}
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if strings.HasPrefix(string(fd.Package()), "fidelis.") {
			for i := range fd.Services().Len() {
				add(fd.Services().Get(i))
			}
		}
		return true
	})
	for _, name := range []string{grpc_health_v1.Health_ServiceDesc.ServiceName, reflectionv1.ServerReflection_ServiceDesc.ServiceName,
		reflectionv1alpha.ServerReflection_ServiceDesc.ServiceName, longrunningpb.Operations_ServiceDesc.ServiceName} {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			t.Fatal(err)
		}
		add(d.(protoreflect.ServiceDescriptor))
	}
	return out
}

// Every RPC has a rule, and every rule an RPC: an RPC added without one
// fails here (and is refused by the guard).
func TestEveryRPCHasARule(t *testing.T) {
	rules := authz.Rules()
	methods := Methods(t)
	if len(methods) < 60 {
		t.Fatalf("only %d methods found: are the generated packages linked?", len(methods))
	}
	seen := map[string]bool{}
	for _, m := range methods {
		seen[m] = true
		r, ok := rules[m]
		switch {
		case !ok:
			t.Errorf("%s has no access rule", m)
		case r.Public && (len(r.Roles) > 0 || r.AnyRole || r.Write || !strings.HasPrefix(m, "/grpc.health.")):
			t.Errorf("%s: only health checks may be public, and they write nothing", m)
		case !r.Public && !r.AnyRole && len(r.Roles) == 0:
			t.Errorf("%s: no role may call it", m)
		case r.Scope == 0:
			t.Errorf("%s: no programme scope", m)
		case strings.HasPrefix(m, "/fidelis.") && r.Scope == authz.NoData:
			t.Errorf("%s: every Fidelis RPC touches some programme's data", m)
		}
	}
	for m := range rules {
		if !seen[m] {
			t.Errorf("rule for %s, which no service has", m)
		}
	}
	// Mutations are marked: every RPC with an idempotency key writes.
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				md := sd.Methods().Get(j)
				if md.Input().Fields().ByName("idempotency_key") != nil && !rules["/"+string(sd.FullName())+"/"+string(md.Name())].Write {
					t.Errorf("%s/%s takes an idempotency key but is not marked as a mutation", sd.FullName(), md.Name())
				}
			}
		}
		return true
	})
}

// The limits in the rules: explicit points beyond the principal's limit,
// and a partner's account touched by anyone but the partners service (and,
// acting for a partner, another partner's), are refused.
func TestRuleChecks(t *testing.T) {
	rules := authz.Rules()
	earn, burn, adjust := rules[ledgerv1.LedgerService_Earn_FullMethodName].Check, rules[ledgerv1.LedgerService_Burn_FullMethodName].Check,
		rules[ledgerv1.LedgerAdminService_Adjust_FullMethodName].Check
	pos := principal.Principal{ID: "pos", Roles: []principal.Role{principal.POS}, Programmes: []string{"*"}, Limits: principal.Limits{MaxEarnPoints: 1000}}
	svc := principal.System("fidelis-partners")
	forPartner := svc.Delegated(principal.Delegation{ID: "partner:p1", Programmes: []string{"test"}, PartnerID: "p1"})
	op := principal.Principal{ID: "ops", Roles: []principal.Role{principal.Operator}, Programmes: []string{"*"},
		Limits: principal.Limits{MaxAdjustPoints: 500}}
	for _, c := range []struct {
		name  string
		check func(principal.Principal, any) error
		who   principal.Principal
		req   any
		ok    bool
	}{
		{"pos earns a purchase", earn, pos, &ledgerv1.EarnRequest{Basis: &ledgerv1.EarnRequest_Purchase{}}, true},
		{"pos earns its limit", earn, pos, &ledgerv1.EarnRequest{Basis: &ledgerv1.EarnRequest_Points{Points: 1000}}, true},
		{"pos earns past its limit", earn, pos, &ledgerv1.EarnRequest{Basis: &ledgerv1.EarnRequest_Points{Points: 1001}}, false},
		{"pos charges a partner", earn, pos, &ledgerv1.EarnRequest{PartnerId: "p1"}, false},
		{"pos pays a partner", burn, pos, &ledgerv1.BurnRequest{PartnerId: "p1"}, false},
		{"the partners service charges a partner", earn, svc, &ledgerv1.EarnRequest{PartnerId: "p1"}, true},
		{"for partner p1, p1", earn, forPartner, &ledgerv1.EarnRequest{PartnerId: "p1"}, true},
		{"for partner p1, p2", earn, forPartner, &ledgerv1.EarnRequest{PartnerId: "p2"}, false},
		{"for partner p1, burn to p2", burn, forPartner, &ledgerv1.BurnRequest{PartnerId: "p2"}, false},
		{"operator adjusts its limit", adjust, op, &ledgerv1.AdjustRequest{Points: -500}, true},
		{"operator adjusts past its limit", adjust, op, &ledgerv1.AdjustRequest{Points: 501}, false},
		{"operator debits past its limit", adjust, op, &ledgerv1.AdjustRequest{Points: -501}, false},
	} {
		if err := c.check(c.who, c.req); (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
