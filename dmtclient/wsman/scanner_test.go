package wsman

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// parseEnvelopeXML is the envelope walk by encoding/xml that parseEnvelope replaced: the oracle of
// FuzzScannerMatchesEncodingXML.
func parseEnvelopeXML(raw []byte) (*Response, error) {
	r := &Response{raw: raw, bodyOff: -1}
	d := xml.NewDecoder(bytes.NewReader(raw))
	depth := 0
	section := "" // "Header" or "Body" while inside them
	field := ""   // header field collecting text
	sawEnvelope, sawBody := false, false
	for {
		off := d.InputOffset()
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, soapErr("malformed envelope: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch depth {
			case 1:
				if t.Name.Local != "Envelope" {
					return nil, soapErr("root element is %q, expected Envelope", t.Name.Local)
				}
				sawEnvelope = true
			case 2:
				section = t.Name.Local
				sawBody = sawBody || section == "Body"
			case 3:
				if section == "Header" {
					field = t.Name.Local
				}
				if section == "Body" {
					r.bodyOff = int(off)
					r.BodyName = t.Name.Local
					if t.Name.Local == "Fault" {
						var f fault
						if err := d.DecodeElement(&f, &t); err != nil {
							return nil, soapErr("malformed fault: %v", err)
						}
						return r, f.err()
					}
					// The body element itself is decoded on demand by Decode; no need to tokenise it twice.
					return r, nil
				}
			}
		case xml.EndElement:
			if depth == 3 {
				field = ""
			}
			if depth == 2 {
				section = ""
			}
			depth--
		case xml.CharData:
			if depth == 3 && section == "Header" {
				r.setHeader(field, t)
			}
		}
	}
	if !sawEnvelope || !sawBody {
		return nil, soapErr("envelope without Body")
	}
	return r, nil
}

// decodeTarget covers what structPlan decodes: scalars of each kind, a pointer, slices and nested structs.
type decodeTarget struct {
	Name    string
	Count   int
	Small   int8
	Big     uint64
	U16     uint16
	On      bool
	Tagged  string `xml:"Other"`
	Ptr     *string
	PtrInt  *int32
	List    []string
	Numbers []int
	Inner   struct {
		A string
		B int
	}
	Items []struct {
		K string
		V bool
	}
	Skipped string `xml:"-"`
	hidden  string //nolint:unused // encoding/xml leaves unexported fields alone, and so must structPlan
}

// The scanner and structPlan decode whatever encoding/xml decodes, the same way: the envelope's header fields,
// body offset and name, a fault, and every field kind structPlan covers.
func FuzzScannerMatchesEncodingXML(f *testing.F) {
	f.Add([]byte(generalSettingsResponse("1")))
	f.Add([]byte(`<?xml version="1.0" encoding="UTF-8"?><!-- c --><a:Envelope xmlns:a="x"><a:Header>` +
		`<b:Action> a&amp;b <!-- c --> <![CDATA[<x>]]></b:Action><b:MessageID>m&#x41;&#66;</b:MessageID>` +
		`<b:RelatesTo><n>skip</n>r</b:RelatesTo></a:Header><a:Body><g:T xmlns:g="y"><Name>n\r\nx</Name>` +
		`<Count> 12 </Count><Small>-8</Small><Big>18446744073709551615</Big><On>true</On><Other>o</Other>` +
		`<Ptr></Ptr><PtrInt>7</PtrInt><List>a</List><List/><Numbers>1</Numbers><Numbers>2</Numbers>` +
		`<Inner><A>x</A><B>3</B><C>no</C></Inner><Items><K>k1</K><V>1</V></Items><Items><K>k2</K></Items>` +
		`<Unknown><Name>deep</Name></Unknown><Skipped>s</Skipped><hidden>h</hidden></g:T></a:Body></a:Envelope>`))
	f.Add([]byte(`<Envelope><Body><Fault><Code><Value>s:Sender</Value><Subcode><Value>w:Bad</Value></Subcode>` +
		`</Code><Reason><Text>why</Text></Reason></Fault></Body></Envelope>`))
	f.Add([]byte(`<Envelope><Header/><Body/></Envelope>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY e "v">]><T><Count>x</Count></T>`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		want, wantErr := parseEnvelopeXML(raw)
		got, gotErr := parseEnvelope(raw)
		var wantFault *FaultError
		switch {
		case wantErr == nil:
			require.NoError(t, gotErr)
			require.Equal(t, want, got)
		case errors.As(wantErr, &wantFault) && want != nil:
			require.Equal(t, want, got)
			require.Equal(t, wantErr, gotErr)
		}

		var wantV, gotV decodeTarget
		if decodeFirstElementXML(raw, &wantV) == nil {
			require.NoError(t, decodeFirstElement(raw, &gotV))
			require.True(t, reflect.DeepEqual(wantV, gotV), "encoding/xml %+v\nscanner %+v", wantV, gotV)
		}
	})
}

// The types dmtclient decodes are all covered by structPlan, or deliberately left to encoding/xml.
func TestStructPlanCoverage(t *testing.T) {
	require.NotNil(t, planOf(reflect.TypeFor[decodeTarget]()))
	require.NotNil(t, planOf(reflect.TypeFor[generalSettings]()))
	require.NotNil(t, planOf(reflect.TypeFor[methodOutput]()))
	for _, v := range []any{
		struct{ A float64 }{},
		struct {
			A string `xml:"a,attr"`
		}{},
		struct {
			A string `xml:"a>b"`
		}{},
		struct{ XMLName xml.Name }{},
		struct{ B []byte }{},
		struct{ P *struct{ A string } }{},
	} {
		require.Nil(t, planOf(reflect.TypeOf(v)), "%T", v)
	}
}

// pullResponse is the body of a PullResponse (§9.2).
type pullResponse struct {
	EnumerationContext string `xml:"EnumerationContext"`
	Items              struct {
		Inner []byte `xml:",innerxml"`
	} `xml:"Items"`
	EndOfSequence *struct{} `xml:"EndOfSequence"`
}

// splitItems (with pullResponse, the oracle of FuzzPullMatchesEncodingXML) cuts the inner XML of Items into one raw slice per top-level element.
func splitItems(inner []byte) ([]Item, error) {
	var items []Item
	d := xml.NewDecoder(bytes.NewReader(inner))
	depth, start := 0, 0
	name := ""
	for {
		off := int(d.InputOffset())
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return items, nil
		}
		if err != nil {
			return nil, soapErr("malformed Items: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				start, name = off, t.Name.Local
			}
			depth++
		case xml.EndElement:
			depth--
			if depth == 0 {
				items = append(items, Item{Name: name, raw: inner[start:d.InputOffset()]})
			}
		}
	}
}

// pullXML is Response.pull by encoding/xml, as it was before the scanner.
func pullXML(r *Response) (PullResult, error) {
	var body pullResponse
	if err := r.Decode(&body); err != nil {
		return PullResult{}, err
	}
	items, err := splitItems(body.Items.Inner)
	if err != nil {
		return PullResult{}, err
	}
	return PullResult{Items: items, Next: strings.TrimSpace(body.EnumerationContext), End: body.EndOfSequence != nil}, nil
}

// A PullResponse reads the same as encoding/xml read it: the next context, each item's name and bytes, the end.
func FuzzPullMatchesEncodingXML(f *testing.F) {
	f.Add([]byte(`<Envelope><Body><g:PullResponse xmlns:g="x"><g:Items><h:A><h:X>1</h:X></h:A>text<B/>` +
		`<!-- c --><A><![CDATA[<y>]]></A></g:Items><g:EnumerationContext> c1 </g:EnumerationContext>` +
		`<g:EndOfSequence/></g:PullResponse></Body></Envelope>`))
	f.Add([]byte(`<Envelope><Body><PullResponse><Items/><Items><Z>2</Z></Items><Other><Items><Q/></Items></Other>` +
		`<EnumerationContext>a</EnumerationContext><EnumerationContext>b<i>x</i></EnumerationContext>` +
		`</PullResponse></Body></Envelope>`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := parseEnvelope(raw)
		if err != nil {
			return
		}
		want, err := pullXML(r)
		if err != nil {
			return
		}
		got, err := r.pull()
		require.NoError(t, err)
		require.Equal(t, want.Next, got.Next)
		require.Equal(t, want.End, got.End)
		require.Len(t, got.Items, len(want.Items))
		for i := range want.Items {
			require.Equal(t, want.Items[i].Name, got.Items[i].Name)
			require.Equal(t, string(want.Items[i].raw), string(got.Items[i].raw))
		}
	})
}
