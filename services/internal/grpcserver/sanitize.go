package grpcserver

import (
	"fmt"
	"strings"
	"unicode"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
)

// nilUUID is the UUID no Fidelis id ever is.
const nilUUID = "00000000-0000-0000-0000-000000000000"

// sanitize checks, in every request, what no field may hold, whatever its
// own rules say: a NUL byte in a string (PostgreSQL cannot store one); in
// an identifier or reference (a field named *_id, *_ref, *_key, cursor,
// page_token) a control character, blanks only, or the nil UUID; a
// Timestamp outside years 1 to 9999 or with nanos out of range; a Duration
// out of range or whose nanos disagree with its sign. Each bad field is a
// violation with its path.
func sanitize(m protoreflect.Message) []fault.Violation {
	var vs []fault.Violation
	sanitizeMessage(m, "", &vs)
	return vs
}

func sanitizeMessage(m protoreflect.Message, path string, vs *[]fault.Violation) {
	switch m.Descriptor().FullName() {
	case "google.protobuf.Timestamp":
		ts := m.Interface().(*timestamppb.Timestamp)
		switch {
		case ts.CheckValid() != nil:
			*vs = append(*vs, fault.Violation{Field: path, Msg: "must be a valid time between years 1 and 9999 (nanos 0 to 999,999,999)"})
		case ts.AsTime().IsZero():
			// Go's zero time, which the services read as "not given".
			*vs = append(*vs, fault.Violation{Field: path, Msg: "must not be 0001-01-01T00:00:00Z: leave it unset instead"})
		}
		return
	case "google.protobuf.Duration":
		if err := m.Interface().(*durationpb.Duration).CheckValid(); err != nil {
			*vs = append(*vs, fault.Violation{Field: path, Msg: "must be a valid duration (nanos within ±999,999,999, of the seconds' sign)"})
		}
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := join(path, string(fd.Name()))
		switch {
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				sanitizeValue(fd, l.Get(i), fmt.Sprintf("%s[%d]", name, i), vs)
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				key := fmt.Sprintf("%s[%q]", name, k.String())
				if fd.MapKey().Kind() == protoreflect.StringKind {
					sanitizeString(fd, k.String(), key, vs)
				}
				sanitizeValue(fd.MapValue(), mv, key, vs)
				return true
			})
		default:
			sanitizeValue(fd, v, name, vs)
		}
		return true
	})
}

func sanitizeValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string, vs *[]fault.Violation) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		sanitizeString(fd, v.String(), path, vs)
	case protoreflect.MessageKind, protoreflect.GroupKind:
		sanitizeMessage(v.Message(), path, vs)
	}
}

func sanitizeString(fd protoreflect.FieldDescriptor, s, path string, vs *[]fault.Violation) {
	if strings.IndexByte(s, 0) >= 0 {
		*vs = append(*vs, fault.Violation{Field: path, Msg: "must not contain a NUL byte"})
		return
	}
	if !identifier(string(fd.Name())) || s == "" {
		return
	}
	switch {
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		*vs = append(*vs, fault.Violation{Field: path, Msg: "must not contain control characters"})
	case strings.TrimSpace(s) == "":
		*vs = append(*vs, fault.Violation{Field: path, Msg: "must not be blank"})
	case s == nilUUID:
		*vs = append(*vs, fault.Violation{Field: path, Msg: "must not be the nil UUID"})
	}
}

// identifier tells whether a field names something (an id, a reference, a
// key, a cursor) rather than holding text.
func identifier(name string) bool {
	return strings.HasSuffix(name, "_id") || strings.HasSuffix(name, "_ids") || strings.HasSuffix(name, "_ref") ||
		strings.HasSuffix(name, "_key") || name == "cursor" || name == "page_token" || name == "code" || name == "sku"
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
