package wsman

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Request is one WS-Man message before it gets a MessageID.
type Request struct {
	Action      string
	ResourceURI string
	Selectors   []Selector // header SelectorSet; empty means none
	Body        string     // inner XML of <Body>, built with MethodBody, InstanceBody or the generic bodies
}

// Selector picks an instance: a key property with a text value, or (when EPR is set) an endpoint reference.
type Selector struct {
	Name  string `xml:"Name,attr"`
	Value string `xml:",chardata"`
	EPR   *EPR   `xml:"EndpointReference"`
}

// EPR is a WS-Addressing endpoint reference to a CIM/AMT instance.
type EPR struct {
	Address     string     `xml:"Address"`
	ResourceURI string     `xml:"ReferenceParameters>ResourceURI"`
	Selectors   []Selector `xml:"ReferenceParameters>SelectorSet>Selector"`
}

// Selector returns the value of the named selector of the reference ("" when absent).
func (e EPR) Selector(name string) string {
	for _, s := range e.Selectors {
		if s.Name == name {
			return s.Value
		}
	}
	return ""
}

// Param is one property of a method input or of an instance sent by Put. Properties are written in slice order.
type Param struct {
	Name  string
	Value string
	Ref   *EPR // when set, the property is an endpoint reference and Value is ignored
}

// Text makes a string property.
func Text(name, value string) Param { return Param{Name: name, Value: value} }

// Int makes an integer property.
func Int(name string, value int64) Param {
	return Param{Name: name, Value: strconv.FormatInt(value, 10)}
}

// Bool makes a boolean property ("true"/"false").
func Bool(name string, value bool) Param { return Param{Name: name, Value: strconv.FormatBool(value)} }

// Ref makes an endpoint-reference property.
func Ref(name string, epr EPR) Param { return Param{Name: name, Ref: &epr} }

// Fixed parts of the envelope (§9.1): header order Action, To, ResourceURI, MessageID, ReplyTo, OperationTimeout,
// then the optional SelectorSet.
const (
	envelopeHead = `<?xml version="1.0" encoding="utf-8"?><Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns="http://www.w3.org/2003/05/soap-envelope"><Header><a:Action>`
	envelopeTail = `<a:ReplyTo><a:Address>` + AddressAnonymous + `</a:Address></a:ReplyTo><w:OperationTimeout>PT60S</w:OperationTimeout>`

	// EnumerateBody and the Pull body are the generic enumeration bodies of §9.1.
	EnumerateBody = `<Enumerate xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration" />`
)

// PullBody is the Pull body for an enumeration context (§9.1: MaxElements 999, MaxCharacters 99999).
func PullBody(enumerationContext string) string {
	var b strings.Builder
	b.WriteString(`<Pull xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><EnumerationContext>`)
	escapeText(&b, enumerationContext)
	b.WriteString(`</EnumerationContext><MaxElements>999</MaxElements><MaxCharacters>99999</MaxCharacters></Pull>`)
	return b.String()
}

// Encode renders the complete envelope with the given MessageID.
func (r *Request) Encode(messageID uint64) []byte {
	var b strings.Builder
	b.Grow(len(envelopeHead) + len(envelopeTail) + len(r.Action) + len(r.ResourceURI) + len(r.Body) + 160)
	b.WriteString(envelopeHead)
	escapeText(&b, r.Action)
	b.WriteString(`</a:Action><a:To>/wsman</a:To><w:ResourceURI>`)
	escapeText(&b, r.ResourceURI)
	b.WriteString(`</w:ResourceURI><a:MessageID>`)
	b.WriteString(strconv.FormatUint(messageID, 10))
	b.WriteString(`</a:MessageID>`)
	b.WriteString(envelopeTail)
	if len(r.Selectors) > 0 {
		b.WriteString(`<w:SelectorSet>`)
		for _, s := range r.Selectors {
			writeSelector(&b, "w:", s)
		}
		b.WriteString(`</w:SelectorSet>`)
	}
	b.WriteString(`</Header><Body>`)
	b.WriteString(r.Body)
	b.WriteString(`</Body></Envelope>`)
	return []byte(b.String())
}

// MethodBody renders `<h:METHOD_INPUT xmlns:h="URI">params</h:METHOD_INPUT>` (§9.1).
func MethodBody(resourceURI, method string, params ...Param) string {
	return element(resourceURI, method+"_INPUT", params)
}

// InstanceBody renders a full instance for Put: `<h:CLASS xmlns:h="URI">params</h:CLASS>`.
func InstanceBody(resourceURI string, params ...Param) string {
	return element(resourceURI, ClassOf(resourceURI), params)
}

func element(ns, name string, params []Param) string {
	var b strings.Builder
	b.WriteString(`<h:`)
	b.WriteString(name)
	b.WriteString(` xmlns:h="`)
	escapeAttr(&b, ns)
	b.WriteString(`">`)
	for _, p := range params {
		b.WriteString(`<h:`)
		b.WriteString(p.Name)
		b.WriteByte('>')
		if p.Ref != nil {
			writeEPR(&b, *p.Ref)
		} else {
			escapeText(&b, p.Value)
		}
		b.WriteString(`</h:`)
		b.WriteString(p.Name)
		b.WriteByte('>')
	}
	b.WriteString(`</h:`)
	b.WriteString(name)
	b.WriteByte('>')
	return b.String()
}

// writeEPR renders the reference the way AMT accepts it in bodies (§10.3): default-namespace declarations on
// Address, ReferenceParameters, ResourceURI and SelectorSet.
func writeEPR(b *strings.Builder, e EPR) {
	b.WriteString(`<Address xmlns="` + NSAddressing + `">`)
	escapeText(b, e.Address)
	b.WriteString(`</Address><ReferenceParameters xmlns="` + NSAddressing + `"><ResourceURI xmlns="` + NSWSMan + `">`)
	escapeText(b, e.ResourceURI)
	b.WriteString(`</ResourceURI><SelectorSet xmlns="` + NSWSMan + `">`)
	for _, s := range e.Selectors {
		writeSelector(b, "", s)
	}
	b.WriteString(`</SelectorSet></ReferenceParameters>`)
}

func writeSelector(b *strings.Builder, prefix string, s Selector) {
	b.WriteString(`<` + prefix + `Selector Name="`)
	escapeAttr(b, s.Name)
	b.WriteString(`">`)
	if s.EPR != nil {
		b.WriteString(`<EndpointReference xmlns="` + NSAddressing + `">`)
		writeEPR(b, *s.EPR)
		b.WriteString(`</EndpointReference>`)
	} else {
		escapeText(b, s.Value)
	}
	b.WriteString(`</` + prefix + `Selector>`)
}

func escapeText(b *strings.Builder, s string) { escape(b, s, false) }
func escapeAttr(b *strings.Builder, s string) { escape(b, s, true) }

// escape writes s as XML character data; characters XML 1.0 cannot carry become U+FFFD, like encoding/xml does.
func escape(b *strings.Builder, s string, attr bool) {
	last := 0
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		var rep string
		switch {
		case r == '&':
			rep = "&amp;"
		case r == '<':
			rep = "&lt;"
		case r == '>':
			rep = "&gt;"
		case r == '"' && attr:
			rep = "&quot;"
		case attr && (r == '\n' || r == '\r' || r == '\t'):
			rep = "&#x" + strconv.FormatInt(int64(r), 16) + ";"
		case !validXMLChar(r) || (r == utf8.RuneError && w == 1):
			rep = "\uFFFD"
		default:
			i += w
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(rep)
		i += w
		last = i
	}
	b.WriteString(s[last:])
}

func validXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
