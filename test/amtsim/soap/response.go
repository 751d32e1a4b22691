package soap

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Prop is one property of a CIM instance or method output. Multi-valued properties are
// written as repeated elements (§9.2); a reference-valued property carries Ref.
type Prop struct {
	Name   string
	Values []string
	Ref    *EPR
	// Datetime wraps each value in a cim-common Datetime element (e.g. ReleaseDate).
	Datetime bool
	// Wrap, when set, wraps each value in a cim-common element of that name (e.g. Interval).
	Wrap string
}

// P builds a scalar or multi-valued property.
func P(name string, values ...string) Prop { return Prop{Name: name, Values: values} }

// DT builds a CIM datetime property.
func DT(name, value string) Prop { return Prop{Name: name, Values: []string{value}, Datetime: true} }

// R builds a reference-valued property.
func R(name string, ref *EPR) Prop { return Prop{Name: name, Ref: ref} }

// Instance is one CIM instance as AMT renders it: an element named after the class in
// the class namespace, properties in order.
type Instance struct {
	Class string
	Props []Prop
}

// Prop returns the named property or nil.
func (in *Instance) Prop(name string) *Prop {
	for i := range in.Props {
		if in.Props[i].Name == name {
			return &in.Props[i]
		}
	}
	return nil
}

// Matches reports whether every selector names a property of the instance with the
// same value (or, for reference selectors, a reference with matching selectors).
func (in *Instance) Matches(sels []Selector) bool {
	for _, s := range sels {
		p := in.Prop(s.Name)
		if p == nil {
			return false
		}
		if s.Ref != nil {
			if p.Ref == nil || !refMatches(p.Ref, s.Ref) {
				return false
			}
			continue
		}
		if p.Ref != nil || len(p.Values) != 1 || p.Values[0] != s.Value {
			return false
		}
	}
	return true
}

func refMatches(have, want *EPR) bool {
	if want.ResourceURI != "" && want.ResourceURI != have.ResourceURI {
		return false
	}
	for _, w := range want.Selectors {
		found := false
		for _, h := range have.Selectors {
			if h.Name == w.Name && h.Value == w.Value {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Reply is the header data of a response envelope plus its rendered body.
type Reply struct {
	RelatesTo   string
	MessageID   string
	Action      string
	ResourceURI string
	ClassNS     string
	// Enumeration binds g to the enumeration namespace and h to the class namespace,
	// as AMT does in Enumerate/Pull responses; otherwise g is the class namespace.
	Enumeration bool
	Body        []byte
}

// envelopeMarkup bounds the fixed text AppendEnvelope writes around a reply's fields,
// so that dst grows once (TestEnvelopeMarkupBound keeps it up to date).
const envelopeMarkup = 900

// AppendEnvelope renders a response envelope in AMT's prefix layout (§9.2).
func AppendEnvelope(dst []byte, r Reply) []byte {
	dst = slices.Grow(dst, envelopeMarkup+len(r.RelatesTo)+len(r.MessageID)+len(r.Action)+len(r.ResourceURI)+
		len(r.ClassNS)+len(r.Body))
	dst = append(dst, `<?xml version="1.0" encoding="UTF-8"?><a:Envelope xmlns:a="`+NSEnvelope+
		`" xmlns:b="`+NSAddressing+`" xmlns:c="`+NSWSMan+`" xmlns:d="`+NSTrust+`" xmlns:e="`+NSSecExt+
		`" xmlns:f="`+NSCIMBinding+`"`...)
	if r.Enumeration {
		dst = appendAttr(dst, "xmlns:g", NSEnumeration)
		dst = appendAttr(dst, "xmlns:h", r.ClassNS)
		dst = appendAttr(dst, "xmlns:i", NSCommon)
	} else {
		dst = appendAttr(dst, "xmlns:g", r.ClassNS)
		dst = appendAttr(dst, "xmlns:h", NSCommon)
	}
	dst = append(dst, ` xmlns:xsi="`+NSXSI+`"><a:Header><b:To>`+Anonymous+`</b:To><b:RelatesTo>`...)
	dst = AppendEscaped(dst, r.RelatesTo)
	dst = append(dst, `</b:RelatesTo><b:Action a:mustUnderstand="true">`...)
	dst = AppendEscaped(dst, r.Action)
	dst = append(dst, `</b:Action><b:MessageID>`...)
	dst = AppendEscaped(dst, r.MessageID)
	dst = append(dst, `</b:MessageID><c:ResourceURI>`...)
	dst = AppendEscaped(dst, r.ResourceURI)
	dst = append(dst, `</c:ResourceURI></a:Header><a:Body>`...)
	dst = append(dst, r.Body...)
	return append(dst, `</a:Body></a:Envelope>`...)
}

// AppendFault renders a fault envelope; AMT omits ResourceURI on faults.
func AppendFault(dst []byte, relatesTo, messageID string, f *Fault) []byte {
	dst = append(dst, `<?xml version="1.0" encoding="UTF-8"?><a:Envelope xmlns:a="`+NSEnvelope+
		`" xmlns:b="`+NSAddressing+`" xmlns:c="`+NSWSMan+`" xmlns:d="`+NSTrust+`" xmlns:e="`+NSSecExt+
		`" xmlns:f="`+NSCIMBinding+`" xmlns:g="`+NSEnumeration+`" xmlns:h="`+NSTransfer+`" xmlns:xsi="`+NSXSI+
		`"><a:Header><b:To>`+Anonymous+`</b:To><b:RelatesTo>`...)
	dst = AppendEscaped(dst, relatesTo)
	dst = append(dst, `</b:RelatesTo><b:Action a:mustUnderstand="true">`...)
	dst = AppendEscaped(dst, f.Action)
	dst = append(dst, `</b:Action><b:MessageID>`...)
	dst = AppendEscaped(dst, messageID)
	dst = append(dst, `</b:MessageID></a:Header><a:Body><a:Fault><a:Code><a:Value>a:`...)
	dst = append(dst, f.Code...)
	dst = append(dst, `</a:Value>`...)
	if f.Sub != "" {
		dst = append(dst, `<a:Subcode><a:Value>`...)
		dst = append(dst, subPrefix(f.SubNS)...)
		dst = append(dst, ':')
		dst = append(dst, f.Sub...)
		dst = append(dst, `</a:Value></a:Subcode>`...)
	}
	dst = append(dst, `</a:Code><a:Reason><a:Text xml:lang="en-US">`...)
	dst = AppendEscaped(dst, f.Reason)
	dst = append(dst, `</a:Text></a:Reason><a:Detail>`...)
	if f.Detail != "" {
		dst = append(dst, `<c:FaultDetail>`...)
		dst = AppendEscaped(dst, f.Detail)
		dst = append(dst, `</c:FaultDetail>`...)
	}
	return append(dst, `</a:Detail></a:Fault></a:Body></a:Envelope>`...)
}

// AppendInstance renders in as <prefix:Class>…</prefix:Class>.
func AppendInstance(dst []byte, prefix string, in *Instance) []byte {
	return appendElement(dst, prefix, in.Class, in.Props)
}

// AppendOutput renders a method result <prefix:Method_OUTPUT> with its outputs followed
// by ReturnValue, the order AMT uses (e.g. AddMpServer_OUTPUT: MpServer, ReturnValue).
func AppendOutput(dst []byte, prefix, method string, outs []Prop, rv int) []byte {
	props := append(outs[:len(outs):len(outs)], P("ReturnValue", strconv.Itoa(rv)))
	return appendElement(dst, prefix, method+"_OUTPUT", props)
}

func appendElement(dst []byte, prefix, name string, props []Prop) []byte {
	dst = slices.Grow(dst, elementLen(prefix, name, props))
	dst = openTag(dst, prefix, name)
	for _, p := range props {
		if p.Ref != nil {
			dst = openTag(dst, prefix, p.Name)
			dst = AppendEPR(dst, p.Ref)
			dst = closeTag(dst, prefix, p.Name)
			continue
		}
		wrap := p.wrapper()
		for _, v := range p.Values {
			dst = openTag(dst, prefix, p.Name)
			if wrap != "" {
				dst = openTag(dst, commonPrefix(prefix), wrap)
				dst = AppendEscaped(dst, v)
				dst = closeTag(dst, commonPrefix(prefix), wrap)
			} else {
				dst = AppendEscaped(dst, v)
			}
			dst = closeTag(dst, prefix, p.Name)
		}
	}
	return closeTag(dst, prefix, name)
}

// wrapper is the cim-common element each value of p is wrapped in, if any.
func (p *Prop) wrapper() string {
	if p.Datetime {
		return "Datetime"
	}
	return p.Wrap
}

// elementLen is what appendElement writes when no value needs escaping.
func elementLen(prefix, name string, props []Prop) int {
	tags := func(prefix, name string) int { return len("<:></:>") + 2*(len(prefix)+len(name)) }
	n := tags(prefix, name)
	for _, p := range props {
		if p.Ref != nil {
			n += tags(prefix, p.Name) + eprLen(p.Ref)
			continue
		}
		per := tags(prefix, p.Name)
		if wrap := p.wrapper(); wrap != "" {
			per += tags(commonPrefix(prefix), wrap)
		}
		for _, v := range p.Values {
			n += per + len(v)
		}
	}
	return n
}

// eprLen is what AppendEPR writes when no value needs escaping.
func eprLen(r *EPR) int {
	n := len(`<b:Address></b:Address><b:ReferenceParameters><c:ResourceURI></c:ResourceURI><c:SelectorSet>`+
		`</c:SelectorSet></b:ReferenceParameters>`) + len(cmp.Or(r.Address, Anonymous)) + len(r.ResourceURI)
	for _, s := range r.Selectors {
		n += len(`<c:Selector Name=""></c:Selector>`) + len(s.Name)
		if s.Ref != nil {
			n += len(`<b:EndpointReference></b:EndpointReference>`) + eprLen(s.Ref)
		} else {
			n += len(s.Value)
		}
	}
	return n
}

// AppendEPR renders the Address and ReferenceParameters of an endpoint reference with
// the b (addressing) and c (wsman) prefixes.
func AppendEPR(dst []byte, r *EPR) []byte {
	addr := r.Address
	if addr == "" {
		addr = Anonymous
	}
	dst = append(dst, `<b:Address>`...)
	dst = AppendEscaped(dst, addr)
	dst = append(dst, `</b:Address><b:ReferenceParameters><c:ResourceURI>`...)
	dst = AppendEscaped(dst, r.ResourceURI)
	dst = append(dst, `</c:ResourceURI><c:SelectorSet>`...)
	for _, s := range r.Selectors {
		dst = append(dst, `<c:Selector Name="`...)
		dst = AppendEscaped(dst, s.Name)
		dst = append(dst, `">`...)
		if s.Ref != nil { // a reference selector (an association's key, e.g. AMT_TLSCredentialContext)
			dst = append(dst, `<b:EndpointReference>`...)
			dst = AppendEPR(dst, s.Ref)
			dst = append(dst, `</b:EndpointReference>`...)
		} else {
			dst = AppendEscaped(dst, s.Value)
		}
		dst = append(dst, `</c:Selector>`...)
	}
	return append(dst, `</c:SelectorSet></b:ReferenceParameters>`...)
}

// commonPrefix is the prefix AppendEnvelope binds to the cim-common namespace: h next
// to a class bound to g, i next to a class bound to h (enumerations).
func commonPrefix(classPrefix string) string {
	if classPrefix == "h" {
		return "i"
	}
	return "h"
}

func openTag(dst []byte, prefix, name string) []byte {
	dst = append(dst, '<')
	dst = append(dst, prefix...)
	dst = append(dst, ':')
	dst = append(dst, name...)
	return append(dst, '>')
}

func closeTag(dst []byte, prefix, name string) []byte {
	dst = append(dst, "</"...)
	dst = append(dst, prefix...)
	dst = append(dst, ':')
	dst = append(dst, name...)
	return append(dst, '>')
}

func appendAttr(dst []byte, name, value string) []byte {
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, `="`...)
	dst = AppendEscaped(dst, value)
	return append(dst, '"')
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")

// AppendEscaped appends s with XML special characters escaped.
func AppendEscaped(dst []byte, s string) []byte {
	if !strings.ContainsAny(s, `&<>"'`) {
		return append(dst, s...)
	}
	return append(dst, escaper.Replace(s)...)
}
