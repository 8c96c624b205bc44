package host_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
)

// rawCodec sends bytes as they are, whatever they are.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*(v.(*[]byte)) = data.Materialize()
	return nil
}

// badPayloads are requests that do not decode as m's input: garbage,
// a truncated field, and (when it has a string field) a string of
// invalid UTF-8.
func badPayloads(in protoreflect.MessageDescriptor) map[string][]byte {
	out := map[string][]byte{
		"garbage":   {0xff, 0xff, 0xff, 0xff, 0x0f},
		"truncated": protowire.AppendTag(nil, 1, protowire.BytesType),
	}
	out["truncated"] = append(out["truncated"], 0x20, 'a')
	for i := range in.Fields().Len() {
		if f := in.Fields().Get(i); f.Kind() == protoreflect.StringKind && !f.IsList() {
			b := protowire.AppendTag(nil, f.Number(), protowire.BytesType)
			out["invalid UTF-8 in "+string(f.Name())] = protowire.AppendBytes(b, []byte{'a', 0xff, 0xfe})
			break
		}
	}
	return out
}

// A request that does not decode is INVALID_ARGUMENT — the client sent it
// wrong — on every RPC, unary or streaming; never INTERNAL.
func TestUndecodableRequests(t *testing.T) {
	s := start(t, sqldbtest.Open(t, sqldb.SQLite), nil)
	conn := s.conn(t, s.admin)
	for _, m := range s.methods(t) {
		for name, payload := range badPayloads(m.desc.Input()) {
			err := invokeRaw(ctx(t), conn, m, payload)
			if c := status.Code(err); c != codes.InvalidArgument && c != codes.PermissionDenied {
				t.Errorf("%s with %s: %v, want INVALID_ARGUMENT", m.full, name, err)
			}
		}
	}
}

func invokeRaw(ctx context.Context, conn *grpc.ClientConn, m method, payload []byte) error {
	var resp []byte
	if !m.desc.IsStreamingClient() && !m.desc.IsStreamingServer() {
		return conn.Invoke(ctx, m.full, payload, &resp, grpc.ForceCodecV2(rawCodec{}))
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: m.desc.IsStreamingServer(), ClientStreams: m.desc.IsStreamingClient()},
		m.full, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		return err
	}
	if err := cs.SendMsg(payload); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if err := cs.CloseSend(); err != nil {
		return err
	}
	return cs.RecvMsg(&resp)
}

// A request with what no field may hold — a NUL byte in any string, a time
// outside years 1 to 9999 — is INVALID_ARGUMENT naming the field, on every
// RPC, before anything reads or stores it (PostgreSQL refuses a NUL byte:
// it used to be INTERNAL).
func TestUnstorableFields(t *testing.T) {
	s := start(t, sqldbtest.Open(t, sqldb.SQLite), nil)
	conn := s.conn(t, s.admin)
	tried := 0
	for _, m := range s.methods(t) {
		in := m.desc.Input()
		for i := range in.Fields().Len() {
			fd := in.Fields().Get(i)
			req := dynamicpb.NewMessage(in)
			switch {
			case fd.Kind() == protoreflect.StringKind && !fd.IsList() && !fd.IsMap():
				req.Set(fd, protoreflect.ValueOfString("a\x00b"))
			case fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() && fd.Message().FullName() == "google.protobuf.Timestamp":
				ts := req.Mutable(fd).Message()
				ts.Set(ts.Descriptor().Fields().ByName("seconds"), protoreflect.ValueOfInt64(-62135596801)) // year 0
			default:
				continue
			}
			tried++
			err := invoke(ctx(t), conn, m, req)
			st := status.Convert(err)
			if st.Code() == codes.PermissionDenied {
				continue
			}
			if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), string(fd.Name())) {
				t.Errorf("%s with %s unstorable: %v, want INVALID_ARGUMENT on the field", m.full, fd.Name(), err)
			}
		}
	}
	if tried < 100 {
		t.Fatalf("only %d fields tried", tried)
	}
}
