// Package storetest holds what the store contract tests share (the
// postingtest, statustest, analyticstest packages and the access, rewards
// and partners apptest packages): a comparison of what was saved with what
// reads back, a failure message that shows both, and the contract of a
// service's idempotency table and its purge (idem.go).
package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"
)

var timeType = reflect.TypeFor[time.Time]()

// Equal tells whether got and want hold the same values: deeply, with
// times compared as instants (a store need not keep a time's location),
// values of a type with an Equal(T) bool method (decimal.Decimal) compared
// with it, and nil and empty slices and maps alike.
func Equal(got, want any) bool {
	return equal(reflect.ValueOf(got), reflect.ValueOf(want))
}

func equal(a, b reflect.Value) bool {
	if !a.IsValid() || !b.IsValid() {
		return a.IsValid() == b.IsValid()
	}
	if a.Type() != b.Type() {
		return false
	}
	if a.Type() == timeType {
		return a.Interface().(time.Time).Equal(b.Interface().(time.Time))
	}
	if m, ok := a.Type().MethodByName("Equal"); ok && a.CanInterface() &&
		m.Type.NumIn() == 2 && m.Type.In(1) == a.Type() && m.Type.NumOut() == 1 && m.Type.Out(0).Kind() == reflect.Bool {
		return a.MethodByName("Equal").Call([]reflect.Value{b})[0].Bool()
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equal(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if !equal(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !equal(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		for _, k := range a.MapKeys() {
			bv := b.MapIndex(k)
			if !bv.IsValid() || !equal(a.MapIndex(k), bv) {
				return false
			}
		}
		return true
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return a.Uint() == b.Uint()
	case reflect.Float32, reflect.Float64:
		return a.Float() == b.Float()
	case reflect.String:
		return a.String() == b.String()
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// Check fails the test unless got equals want (see Equal), showing both.
func Check(t testing.TB, what string, got, want any) {
	t.Helper()
	if !Equal(got, want) {
		t.Errorf("%s:\n got  %s\n want %s", what, Show(got), Show(want))
	}
}

// Show renders a value for a failure message, pointers followed.
func Show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}
