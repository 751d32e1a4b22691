package wsman

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
)

// Response is a decoded SOAP envelope from AMT. Elements are matched by local name only: AMT's prefixes
// (a, b, c, g, h…) carry no meaning we rely on (§9.2).
type Response struct {
	Action      string // e.g. …/transfer/GetResponse
	RelatesTo   string // echoes the request MessageID
	MessageID   string
	ResourceURI string
	BodyName    string // local name of the first element in Body, e.g. "AMT_GeneralSettings", "Setup_OUTPUT"

	raw     []byte
	bodyOff int // offset of the first Body element in raw, -1 when Body is empty
}

// Decode unmarshals the first element of Body into v (encoding/xml rules; leave namespaces out of struct tags).
func (r *Response) Decode(v any) error {
	if r.bodyOff < 0 {
		return soapErr("response body is empty, expected an element")
	}
	return decodeFirstElement(r.raw[r.bodyOff:], v)
}

func decodeFirstElement(raw []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return decodeFirstElementXML(raw, v)
	}
	p := planOf(rv.Elem().Type())
	if p == nil {
		return decodeFirstElementXML(raw, v)
	}
	s := newScanner(raw)
	for {
		tok, err := s.next()
		if err != nil {
			return soapErr("decode: %v", err)
		}
		switch tok.kind {
		case tokEOF:
			return soapErr("decode: %v", io.EOF)
		case tokStart:
			if err := decodeStruct(s, p, rv.Elem()); err != nil {
				return soapErr("decode %s: %v", tok.name, err)
			}
			return nil
		}
	}
}

// decodeFirstElementXML is decodeFirstElement by encoding/xml, for the types structPlan does not cover.
func decodeFirstElementXML(raw []byte, v any) error {
	d := xml.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := d.Token()
		if err != nil {
			return soapErr("decode: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if err := d.DecodeElement(v, &se); err != nil {
				return soapErr("decode %s: %v", se.Name.Local, err)
			}
			return nil
		}
	}
}

// fault mirrors a SOAP 1.2 Fault by local names.
type fault struct {
	Code struct {
		Value   string `xml:"Value"`
		Subcode struct {
			Value string `xml:"Value"`
		} `xml:"Subcode"`
	} `xml:"Code"`
	Reason struct {
		Text []string `xml:"Text"`
	} `xml:"Reason"`
	Detail struct {
		Inner []byte `xml:",innerxml"`
	} `xml:"Detail"`
}

func (f *fault) err() *FaultError {
	reason := ""
	if len(f.Reason.Text) > 0 {
		reason = strings.TrimSpace(f.Reason.Text[0])
	}
	return &FaultError{
		Code:    localPart(f.Code.Value),
		Subcode: localPart(f.Code.Subcode.Value),
		Reason:  reason,
		Detail:  textOf(f.Detail.Inner),
	}
}

func localPart(qname string) string {
	qname = strings.TrimSpace(qname)
	return qname[strings.IndexByte(qname, ':')+1:]
}

// textOf returns the character data of an XML fragment, whitespace-collapsed; markup that fails to parse is
// reported as-is, since the detail is only informative.
func textOf(fragment []byte) string {
	d := xml.NewDecoder(bytes.NewReader(fragment))
	var parts []string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return strings.TrimSpace(string(fragment))
		}
		if cd, ok := tok.(xml.CharData); ok {
			if s := strings.TrimSpace(string(cd)); s != "" {
				parts = append(parts, s)
			}
		}
	}
	return strings.Join(parts, " ")
}

// parseEnvelope decodes a SOAP envelope's header and locates its body element; Decode checks that element.
// A Fault body is returned as *FaultError (with the Response).
func parseEnvelope(raw []byte) (*Response, error) {
	r := &Response{raw: raw, bodyOff: -1}
	s := newScanner(raw)
	depth := 0
	section := "" // "Header" or "Body" while inside them
	field := ""   // header field collecting text
	sawEnvelope, sawBody := false, false
	for {
		tok, err := s.next()
		if err != nil {
			return nil, soapErr("malformed envelope: %v", err)
		}
		switch tok.kind {
		case tokEOF:
			if !sawEnvelope || !sawBody {
				return nil, soapErr("envelope without Body")
			}
			return r, nil
		case tokStart:
			depth++
			switch depth {
			case 1:
				if string(tok.name) != "Envelope" {
					return nil, soapErr("root element is %q, expected Envelope", tok.name)
				}
				sawEnvelope = true
			case 2:
				section = string(tok.name)
				sawBody = sawBody || section == "Body"
			case 3:
				if section == "Header" {
					field = string(tok.name)
				}
				if section == "Body" {
					r.bodyOff = tok.off
					r.BodyName = string(tok.name)
					if r.BodyName == "Fault" {
						f, err := decodeFault(raw[tok.off:])
						if err != nil {
							return nil, err
						}
						return r, f
					}
					// The body element itself is decoded on demand by Decode; no need to tokenise it twice.
					return r, nil
				}
			}
		case tokEnd:
			if depth == 3 {
				field = ""
			}
			if depth == 2 {
				section = ""
			}
			depth--
		case tokText:
			if depth == 3 && section == "Header" {
				r.setHeader(field, tok.text)
			}
		}
	}
}

// decodeFault decodes the Fault element at the start of raw (rare: encoding/xml does it).
func decodeFault(raw []byte) (*FaultError, error) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	tok, err := d.Token()
	if err != nil {
		return nil, soapErr("malformed fault: %v", err)
	}
	start, _ := tok.(xml.StartElement)
	var f fault
	if err := d.DecodeElement(&f, &start); err != nil {
		return nil, soapErr("malformed fault: %v", err)
	}
	return f.err(), nil
}

func (r *Response) setHeader(field string, raw []byte) {
	text := string(bytes.TrimSpace(raw))
	switch field {
	case "Action":
		r.Action += text
	case "RelatesTo":
		r.RelatesTo += text
	case "MessageID":
		r.MessageID += text
	case "ResourceURI":
		r.ResourceURI += text
	}
}

// Item is one instance element of a Pull response.
type Item struct {
	Name string // class name (local name of the element)
	raw  []byte
}

// Decode unmarshals the instance into v.
func (it Item) Decode(v any) error { return decodeFirstElement(it.raw, v) }

// pull reads a PullResponse body (§9.2): the context of the next Pull, each instance in Items as its own raw
// element, and whether EndOfSequence came.
func (r *Response) pull() (PullResult, error) {
	if r.bodyOff < 0 {
		return PullResult{}, soapErr("response body is empty, expected an element")
	}
	raw := r.raw[r.bodyOff:]
	s := newScanner(raw)
	if _, err := s.next(); err != nil { // the body element parseEnvelope found
		return PullResult{}, soapErr("decode: %v", err)
	}
	var res PullResult
	err := s.children(func(tok token) error {
		switch string(tok.name) {
		case "EnumerationContext":
			text, err := directText(s)
			res.Next = string(text)
			return err
		case "Items": // a second Items replaces the first, as it would a field
			res.Items = nil
			return pullItems(s, raw, &res.Items)
		case "EndOfSequence":
			res.End = true
		}
		return s.skip()
	})
	if err != nil {
		return PullResult{}, soapErr("decode %s: %v", r.BodyName, err)
	}
	res.Next = strings.TrimSpace(res.Next)
	return res, nil
}

// pullItems cuts the children of Items into one raw element each.
func pullItems(s *scanner, raw []byte, items *[]Item) error {
	return s.children(func(tok token) error {
		if err := s.skip(); err != nil {
			return err
		}
		*items = append(*items, Item{Name: string(tok.name), raw: raw[tok.off:s.pos]})
		return nil
	})
}

// methodOutput reads ReturnValue from a `<METHOD>_OUTPUT` body.
type methodOutput struct {
	ReturnValue *string `xml:"ReturnValue"`
}

func parseReturnValue(s string) (uint32, error) {
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return 0, soapErr("ReturnValue %q is not an unsigned integer", s)
	}
	return uint32(v), nil
}
