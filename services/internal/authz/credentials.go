package authz

import (
	"context"
	"encoding/json"

	"google.golang.org/grpc/credentials"

	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// ServiceCredentials are the per-call credentials a Fidelis service sends
// when it calls another: its own API key, and, when the call is made for
// a principal (the one principal.FromContext finds in the call's context),
// that principal as a delegation, so that the callee binds the call to the
// principal's programmes and partner. Over a connection that is not
// encrypted they are sent only to a loopback address (requireTLS false).
func ServiceCredentials(key string, requireTLS bool) credentials.PerRPCCredentials {
	return serviceCredentials{key: key, tls: requireTLS}
}

type serviceCredentials struct {
	key string
	tls bool
}

func (c serviceCredentials) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	md := map[string]string{"authorization": "Bearer " + c.key}
	if p, ok := principal.FromContext(ctx); ok {
		d, err := json.Marshal(p.Delegation())
		if err != nil {
			return nil, err
		}
		md[DelegationHeader] = string(d)
	}
	return md, nil
}

func (c serviceCredentials) RequireTransportSecurity() bool { return c.tls }

// KeyCredentials send an API key with every call (clients, tests, the
// bench), nothing else.
func KeyCredentials(key string, requireTLS bool) credentials.PerRPCCredentials {
	return keyCredentials{key: key, tls: requireTLS}
}

type keyCredentials struct {
	key string
	tls bool
}

func (c keyCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + c.key}, nil
}

func (c keyCredentials) RequireTransportSecurity() bool { return c.tls }
