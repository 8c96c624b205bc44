package grpcserver

import (
	"context"
	"sync"

	"google.golang.org/grpc"

	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the proto codec this one wraps
	"google.golang.org/grpc/mem"
)

// lenientCodec is the proto codec, except that a request that does not
// decode (garbage or truncated bytes, a string of invalid UTF-8) is not
// refused by grpc-go as INTERNAL, before any interceptor runs, but handed
// to the handler chain marked, so that the validation interceptor refuses
// it as INVALID_ARGUMENT: the client sent it wrong, the server did not fail.
type lenientCodec struct {
	proto encoding.CodecV2
	// bad are the messages that did not decode, with why; the validation
	// interceptor takes them out.
	bad sync.Map
}

func newLenientCodec() *lenientCodec {
	return &lenientCodec{proto: encoding.GetCodecV2("proto")}
}

func (c *lenientCodec) Name() string { return c.proto.Name() }

func (c *lenientCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c *lenientCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if err := c.proto.Unmarshal(data, v); err != nil {
		c.bad.Store(v, err)
	}
	return nil
}

// undecodable tells whether m did not decode, and why; it forgets m.
func (c *lenientCodec) undecodable(m any) (error, bool) {
	err, ok := c.bad.LoadAndDelete(m)
	if !ok {
		return nil, false
	}
	return err.(error), true
}

// forgetUnary forgets, once a unary call ends, whether its request
// decoded: a call the guard refuses never reaches the validation
// interceptor that takes the mark out, and the mark must not outlive it.
func (c *lenientCodec) forgetUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	defer c.bad.Delete(req)
	return h(ctx, req)
}
