package wsman

import (
	"encoding"
	"encoding/xml"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// structPlan is how a struct type is filled from an element, by the rules encoding/xml applies to it: each child
// element goes to the first field of its local name, anything else is skipped. Types this does not cover (see
// planFor) are decoded by encoding/xml itself.
type structPlan struct{ fields []fieldPlan }

type fieldPlan struct {
	name  string
	index int
	slice bool         // append one element per occurrence
	ptr   bool         // allocated when the element occurs
	kind  reflect.Kind // of the value (the slice's element, the pointer's target)
	sub   *structPlan  // for a struct value
}

var plans sync.Map // reflect.Type → *structPlan, or nil where encoding/xml decodes

var (
	xmlUnmarshaler  = reflect.TypeFor[xml.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func planOf(t reflect.Type) *structPlan {
	if p, ok := plans.Load(t); ok {
		return p.(*structPlan)
	}
	p := planFor(t, 0)
	plans.Store(t, p)
	return p
}

// planFor covers structs whose fields are strings, booleans, integers, structs of the same, slices of those or
// pointers to scalars, named by their field name or a plain tag name; nil for anything else (attributes, inner
// XML, paths, namespaces, XMLName, embedded fields, custom unmarshalers, floats, []byte).
func planFor(t reflect.Type, depth int) *structPlan {
	if t.Kind() != reflect.Struct || depth > 8 || custom(t) {
		return nil
	}
	p := &structPlan{}
	seen := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			return nil
		}
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("xml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if opts != "" && opts != "omitempty" || strings.ContainsAny(name, " >") || f.Name == "XMLName" {
			return nil
		}
		if name == "" {
			name = f.Name
		}
		if seen[name] {
			return nil
		}
		seen[name] = true
		fp := fieldPlan{name: name, index: i}
		ft := f.Type
		switch ft.Kind() {
		case reflect.Slice:
			fp.slice, ft = true, ft.Elem()
		case reflect.Pointer:
			fp.ptr, ft = true, ft.Elem()
		}
		if custom(ft) {
			return nil
		}
		fp.kind = ft.Kind()
		switch fp.kind {
		case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		case reflect.Uint8:
			if fp.slice { // []byte is one value, not a list
				return nil
			}
		case reflect.Struct:
			if fp.ptr {
				return nil
			}
			if fp.sub = planFor(ft, depth+1); fp.sub == nil {
				return nil
			}
		default:
			return nil
		}
		p.fields = append(p.fields, fp)
	}
	return p
}

func custom(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return t.Implements(xmlUnmarshaler) || pt.Implements(xmlUnmarshaler) || t.Implements(textUnmarshaler) ||
		pt.Implements(textUnmarshaler)
}

func (p *structPlan) field(name []byte) *fieldPlan {
	for i := range p.fields {
		if p.fields[i].name == string(name) {
			return &p.fields[i]
		}
	}
	return nil
}

// decodeStruct fills v from the children of the element whose start s has just read, up to its end.
func decodeStruct(s *scanner, p *structPlan, v reflect.Value) error {
	return s.children(func(tok token) error {
		f := p.field(tok.name)
		if f == nil {
			return s.skip()
		}
		return decodeField(s, f, v.Field(f.index))
	})
}

func decodeField(s *scanner, f *fieldPlan, v reflect.Value) error {
	switch {
	case f.slice:
		n := v.Len()
		v.Grow(1)
		v.SetLen(n + 1)
		if err := decodeValue(s, f, v.Index(n)); err != nil {
			v.SetLen(n)
			return err
		}
		return nil
	case f.ptr:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return decodeValue(s, f, v.Elem())
	}
	return decodeValue(s, f, v)
}

func decodeValue(s *scanner, f *fieldPlan, v reflect.Value) error {
	if f.sub != nil {
		return decodeStruct(s, f.sub, v)
	}
	text, err := directText(s)
	if err != nil {
		return err
	}
	return setScalar(v, text)
}

// directText collects the element's own character data up to its end; nested elements are skipped, as
// encoding/xml does for a scalar field.
func directText(s *scanner) ([]byte, error) {
	text := s.collect[:0]
	defer func() { s.collect = text }()
	for {
		tok, err := s.next()
		if err != nil {
			return nil, err
		}
		switch tok.kind {
		case tokEnd:
			return text, nil
		case tokEOF:
			return nil, errUnexpectedEOF
		case tokText:
			text = append(text, tok.text...)
		case tokStart:
			if err := s.skip(); err != nil {
				return nil, err
			}
		}
	}
}

// setScalar converts as encoding/xml does: strings as they are, numbers and booleans trimmed, empty text zero.
func setScalar(v reflect.Value, text []byte) error {
	switch v.Kind() {
	case reflect.String:
		v.SetString(string(text))
		return nil
	case reflect.Bool:
		if len(text) == 0 {
			v.SetBool(false)
			return nil
		}
		b, err := strconv.ParseBool(strings.TrimSpace(string(text)))
		if err != nil {
			return err
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if len(text) == 0 {
			v.SetInt(0)
			return nil
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(text)), 10, v.Type().Bits())
		if err != nil {
			return err
		}
		v.SetInt(n)
	default: // the unsigned kinds planFor admits
		if len(text) == 0 {
			v.SetUint(0)
			return nil
		}
		n, err := strconv.ParseUint(strings.TrimSpace(string(text)), 10, v.Type().Bits())
		if err != nil {
			return err
		}
		v.SetUint(n)
	}
	return nil
}
