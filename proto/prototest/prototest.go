// Package prototest helps test code that maps Go types to the WTB contract
// (proto/wtb/...) and back, so that a field added to either side without a
// mapping fails a test that never names the field:
//
//   - Unset lists the fields of a message left at their zero value: after
//     converting a value of the Go type whose every field is set (Full), none
//     may be;
//   - Fill sets every field of a message, however many the contract gains:
//     converted to the Go type and back, Diff finds any the mapping dropped;
//   - Full builds a Go value with every field set to a distinct value, and
//     Compare finds where two Go values differ (empty and nil count as equal,
//     as they do on the wire).
//
// Field paths read like "nodes[].timeout.seconds": list and map elements
// share one path, so one name stands for the field of every element.
//
// It is for tests only, and depends on protobuf alone.
package prototest

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Unset returns the paths of the fields of m — and of every message inside
// it, in lists and maps too — that are not set (proto3: hold their zero
// value), sorted and each once.
func Unset(m proto.Message) []string {
	seen := map[string]bool{}
	unset(m.ProtoReflect(), "", seen)
	return sorted(seen)
}

func unset(m protoreflect.Message, prefix string, out map[string]bool) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		path := prefix + string(fd.Name())
		if !m.Has(fd) {
			out[path] = true
			continue
		}
		switch {
		case fd.IsList():
			if fd.Message() != nil {
				l := m.Get(fd).List()
				for j := 0; j < l.Len(); j++ {
					unset(l.Get(j).Message(), path+"[].", out)
				}
			}
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				m.Get(fd).Map().Range(func(_ protoreflect.MapKey, v protoreflect.Value) bool {
					unset(v.Message(), path+"[].", out)
					return true
				})
			}
		case fd.Message() != nil:
			unset(m.Get(fd).Message(), path+".", out)
		}
	}
}

// Fill sets every field of m, and of every message in it, to a value that is
// not zero and differs from the others (strings "s1", "s2", …, numbers 1, 2,
// …, enums their last value, lists two elements, maps one entry), so that a
// mapping that swaps two fields shows too. In a oneof, only the first member
// is set. with overrides fields by path (a string for a string field, an
// int for an integer or enum, a bool, a float64, []byte).
func Fill(m proto.Message, with map[string]any) {
	f := &filler{with: with}
	f.fill(m.ProtoReflect(), "")
}

type filler struct {
	n    int
	with map[string]any
}

func (f *filler) fill(m protoreflect.Message, prefix string) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() && m.WhichOneof(o) != nil {
			continue
		}
		path := prefix + string(fd.Name())
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range 2 {
				if fd.Message() != nil {
					v := l.NewElement()
					f.fill(v.Message(), path+"[].")
					l.Append(v)
				} else {
					l.Append(f.scalar(fd, path))
				}
			}
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			k := f.scalar(fd.MapKey(), path+"[key]").MapKey()
			if fd.MapValue().Message() != nil {
				v := mp.NewValue()
				f.fill(v.Message(), path+"[].")
				mp.Set(k, v)
			} else {
				mp.Set(k, f.scalar(fd.MapValue(), path+"[]"))
			}
		case fd.Message() != nil:
			f.fill(m.Mutable(fd).Message(), path+".")
		default:
			m.Set(fd, f.scalar(fd, path))
		}
	}
}

func (f *filler) scalar(fd protoreflect.FieldDescriptor, path string) protoreflect.Value {
	f.n++
	if v, ok := f.with[path]; ok {
		return override(fd, path, v)
	}
	n := f.n
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		return protoreflect.ValueOfEnum(vals.Get(vals.Len() - 1).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(n))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(int64(n))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(n))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(n))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(n) + 0.5)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(float64(n) + 0.5)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(fmt.Sprintf("s%d", n))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte(fmt.Sprintf("b%d", n)))
	}
	panic(fmt.Sprintf("prototest: cannot fill %s (%s)", path, fd.Kind()))
}

func override(fd protoreflect.FieldDescriptor, path string, v any) protoreflect.Value {
	switch x := v.(type) {
	case string:
		return protoreflect.ValueOfString(x)
	case bool:
		return protoreflect.ValueOfBool(x)
	case []byte:
		return protoreflect.ValueOfBytes(x)
	case float64:
		return protoreflect.ValueOfFloat64(x)
	case int:
		switch fd.Kind() {
		case protoreflect.EnumKind:
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(x))
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			return protoreflect.ValueOfInt64(int64(x))
		default:
			return protoreflect.ValueOfInt32(int32(x))
		}
	}
	panic(fmt.Sprintf("prototest: override of %s has type %T", path, v))
}

// Diff returns the paths of the fields whose values differ between a and b
// (messages of the same type), sorted and each once; nil when they are
// equal.
func Diff(a, b proto.Message) []string {
	seen := map[string]bool{}
	diff(a.ProtoReflect(), b.ProtoReflect(), "", seen)
	return sorted(seen)
}

func diff(a, b protoreflect.Message, prefix string, out map[string]bool) {
	fields := a.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		path := prefix + string(fd.Name())
		if a.Has(fd) != b.Has(fd) {
			out[path] = true
			continue
		}
		if !a.Has(fd) {
			continue
		}
		va, vb := a.Get(fd), b.Get(fd)
		switch {
		case fd.IsList():
			la, lb := va.List(), vb.List()
			if la.Len() != lb.Len() {
				out[path] = true
				continue
			}
			for j := 0; j < la.Len(); j++ {
				if fd.Message() != nil {
					diff(la.Get(j).Message(), lb.Get(j).Message(), path+"[].", out)
				} else if !va.Equal(vb) {
					out[path] = true
				}
			}
		case fd.IsMap():
			ma, mb := va.Map(), vb.Map()
			if ma.Len() != mb.Len() {
				out[path] = true
				continue
			}
			ma.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				w := mb.Get(k)
				switch {
				case !mb.Has(k):
					out[path] = true
				case fd.MapValue().Message() != nil:
					diff(v.Message(), w.Message(), path+"[].", out)
				case !v.Equal(w):
					out[path] = true
				}
				return true
			})
		case fd.Message() != nil:
			diff(va.Message(), vb.Message(), path+".", out)
		default:
			if !va.Equal(vb) {
				out[path] = true
			}
		}
	}
}

// Full returns a value of type T with every field set, recursively, to a
// value that is not zero and differs from the others: strings name their
// path ("Nodes[].Name#3"), integers count up from 1, durations and times have
// seconds and nanoseconds, slices two elements, maps one entry, pointers a
// value. with gives the value of the fields of a type that must hold
// particular values (an enum whose zero or unknown values do not map); a
// type not covered here, an interface, panics.
func Full[T any](with map[reflect.Type]any) T {
	var v T
	f := &fuller{with: with}
	f.fill(reflect.ValueOf(&v).Elem(), reflect.TypeOf(v).Name())
	return v
}

type fuller struct {
	n    int
	with map[reflect.Type]any
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	timeType     = reflect.TypeOf(time.Time{})
)

func (f *fuller) fill(v reflect.Value, path string) {
	f.n++
	n := f.n
	if w, ok := f.with[v.Type()]; ok {
		v.Set(reflect.ValueOf(w).Convert(v.Type()))
		return
	}
	switch {
	case v.Type() == durationType:
		v.SetInt(int64(n)*int64(time.Second) + int64(n))
		return
	case v.Type() == timeType:
		v.Set(reflect.ValueOf(time.Unix(1_700_000_000+int64(n), int64(n)).UTC()))
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(n))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(n) + 0.5)
	case reflect.String:
		v.SetString(fmt.Sprintf("%s#%d", path, n))
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte(fmt.Sprintf(`{"%s":%d}`, path, n))) // JSON, for fields that carry it
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			f.fill(s.Index(i), path+"[]")
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMapWithSize(v.Type(), 1)
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		f.fill(k, path+"[key]")
		f.fill(e, path+"[]")
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem(), path)
		v.Set(p)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if sf := v.Type().Field(i); sf.IsExported() {
				f.fill(v.Field(i), path+"."+sf.Name)
			}
		}
	default:
		panic(fmt.Sprintf("prototest: Full cannot fill %s (%s); give it a value in with", path, v.Type()))
	}
}

// Zero returns the paths of the fields of v (a struct or a pointer to one,
// recursively) that hold their zero value; a slice or map is zero when it is
// empty, and its elements are looked into.
func Zero(v any) []string {
	seen := map[string]bool{}
	zero(reflect.ValueOf(v), "", seen)
	return sorted(seen)
}

func zero(v reflect.Value, path string, out map[string]bool) {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			out[path] = true
			return
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == timeType {
			if v.Interface().(time.Time).IsZero() {
				out[path] = true
			}
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if sf := v.Type().Field(i); sf.IsExported() {
				p := sf.Name
				if path != "" {
					p = path + "." + sf.Name
				}
				zero(v.Field(i), p, out)
			}
		}
	case reflect.Slice, reflect.Map:
		if v.Len() == 0 {
			out[path] = true
			return
		}
		if v.Kind() == reflect.Slice {
			if v.Type().Elem().Kind() != reflect.Uint8 {
				for i := 0; i < v.Len(); i++ {
					zero(v.Index(i), path+"[]", out)
				}
			}
			return
		}
		for it := v.MapRange(); it.Next(); {
			zero(it.Value(), path+"[]", out)
		}
	default:
		if v.IsZero() {
			out[path] = true
		}
	}
}

// Compare returns where a and b (of the same type) differ, "" when they do
// not: nil and empty slices and maps are equal, as on the wire, times are
// compared as instants and floats by value (NaN equals NaN).
func Compare(a, b any) string {
	return compare(reflect.ValueOf(a), reflect.ValueOf(b), reflect.TypeOf(a).String())
}

func compare(a, b reflect.Value, path string) string {
	if a.Type() != b.Type() {
		return fmt.Sprintf("%s: %s vs %s", path, a.Type(), b.Type())
	}
	if a.Type() == timeType {
		if ta, tb := a.Interface().(time.Time), b.Interface().(time.Time); !ta.Equal(tb) {
			return fmt.Sprintf("%s: %s vs %s", path, ta, tb)
		}
		return ""
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return fmt.Sprintf("%s: %v vs %v", path, a, b)
			}
			return ""
		}
		return compare(a.Elem(), b.Elem(), path)
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if sf := a.Type().Field(i); sf.IsExported() {
				if d := compare(a.Field(i), b.Field(i), path+"."+sf.Name); d != "" {
					return d
				}
			}
		}
		return ""
	case reflect.Slice:
		if a.Len() != b.Len() {
			return fmt.Sprintf("%s: %d elements vs %d", path, a.Len(), b.Len())
		}
		for i := 0; i < a.Len(); i++ {
			if d := compare(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
		return ""
	case reflect.Map:
		if a.Len() != b.Len() {
			return fmt.Sprintf("%s: %d entries vs %d", path, a.Len(), b.Len())
		}
		for it := a.MapRange(); it.Next(); {
			w := b.MapIndex(it.Key())
			if !w.IsValid() {
				return fmt.Sprintf("%s[%v]: missing", path, it.Key())
			}
			if d := compare(it.Value(), w, fmt.Sprintf("%s[%v]", path, it.Key())); d != "" {
				return d
			}
		}
		return ""
	case reflect.Float32, reflect.Float64:
		x, y := a.Float(), b.Float()
		if x != y && !(math.IsNaN(x) && math.IsNaN(y)) {
			return fmt.Sprintf("%s: %v vs %v", path, x, y)
		}
		return ""
	default:
		if !a.Equal(b) {
			return fmt.Sprintf("%s: %#v vs %#v", path, a.Interface(), b.Interface())
		}
		return ""
	}
}

func sorted(set map[string]bool) []string {
	if len(set) == 0 {
		return nil
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
