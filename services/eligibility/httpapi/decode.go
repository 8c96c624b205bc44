package httpapi

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// decode reads a JSON body into m as protojson does. When protojson
// refuses it, decode reads it again field by field, so that each bad value
// is named: m then holds the fields that read, and bad the others, by their
// proto field paths ("answers.contacts"). ok is false when the body is not
// a JSON object at all.
func decode(body []byte, m proto.Message) (bad []violation, ok bool) {
	if err := protojson.Unmarshal(body, m); err == nil {
		return nil, true
	}
	proto.Reset(m)
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return nil, false
	}
	return decodeFields("", obj, m.ProtoReflect()), true
}

// decodeFields sets m's fields from obj, in field order, and returns the
// values that are not theirs; unknown keys come last.
func decodeFields(prefix string, obj map[string]json.RawMessage, m protoreflect.Message) []violation {
	type field struct {
		key string
		fd  protoreflect.FieldDescriptor
	}
	fields := m.Descriptor().Fields()
	var known []field
	var bad, unknown []violation
	for k := range obj {
		fd := fields.ByJSONName(k)
		if fd == nil {
			fd = fields.ByTextName(k)
		}
		if fd == nil {
			unknown = append(unknown, violation{Field: prefix + k, Description: "is not a field of " + string(m.Descriptor().Name())})
			continue
		}
		known = append(known, field{k, fd})
	}
	slices.SortFunc(known, func(a, b field) int { return cmp.Compare(a.fd.Index(), b.fd.Index()) })
	slices.SortFunc(unknown, func(a, b violation) int { return strings.Compare(a.Field, b.Field) })
	for _, f := range known {
		raw, path := obj[f.key], prefix+string(f.fd.Name())
		if nested(f.fd) && bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
			var sub map[string]json.RawMessage
			if err := json.Unmarshal(raw, &sub); err == nil {
				bad = append(bad, decodeFields(path+".", sub, m.Mutable(f.fd).Message())...)
				continue
			}
		}
		one, err := json.Marshal(map[string]json.RawMessage{string(f.fd.Name()): raw})
		tmp := m.New()
		if err == nil {
			err = protojson.Unmarshal(one, tmp.Interface())
		}
		if err != nil {
			bad = append(bad, violation{Field: path, Description: expected(f.fd), kind: f.fd.Kind()})
			continue
		}
		proto.Merge(m.Interface(), tmp.Interface())
	}
	return append(bad, unknown...)
}

// nested is a field holding a message of ours, read field by field (the
// well-known types have JSON forms of their own).
func nested(fd protoreflect.FieldDescriptor) bool {
	return fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() &&
		fd.Message().ParentFile().Package() != "google.protobuf"
}

// expected says in words what a field's JSON value must be.
func expected(fd protoreflect.FieldDescriptor) string {
	if fd.IsList() {
		return "must be a JSON array"
	}
	if fd.IsMap() {
		return "must be a JSON object"
	}
	switch fd.Kind() {
	case protoreflect.EnumKind:
		var names []string
		vs := fd.Enum().Values()
		for i := range vs.Len() {
			if v := vs.Get(i); v.Number() != 0 {
				names = append(names, string(v.Name()))
			}
		}
		return "must be one of " + strings.Join(names, ", ")
	case protoreflect.BoolKind:
		return "must be true or false"
	case protoreflect.StringKind:
		return "must be a string, in double quotes"
	case protoreflect.BytesKind:
		return "must be base64 in a string"
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return "must be a number"
	case protoreflect.MessageKind, protoreflect.GroupKind:
		switch fd.Message().FullName() {
		case "google.protobuf.Timestamp":
			return "must be a time in RFC 3339, like \"2026-03-10T09:30:00Z\""
		case "google.protobuf.Duration":
			return "must be a duration in seconds, like \"3600s\""
		}
		return "must be a JSON object"
	}
	return "must be a whole number" // the integer kinds
}
