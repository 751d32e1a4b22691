package soap

import "strings"

// Selector is one w:Selector of a SelectorSet. A selector whose value is an endpoint
// reference (e.g. AMT_RemoteAccessPolicyAppliesToMPS keys) carries it in Ref.
type Selector struct {
	Name  string
	Value string
	Ref   *EPR
}

// EPR is a WS-Addressing endpoint reference to a CIM instance.
type EPR struct {
	Address     string
	ResourceURI string
	Selectors   []Selector
}

// Request is a parsed WS-Man request envelope.
type Request struct {
	Action           string
	To               string
	ResourceURI      string
	MessageID        string
	ReplyTo          string
	OperationTimeout string
	Selectors        []Selector
	// Body is the single element inside soap:Body, nil when the body is empty.
	Body *Node
}

// ParseRequest parses and validates a WS-Man request. Every error is a *Fault ready to
// be sent back; MessageID is filled in on the returned request as early as it is known
// so that a fault can still carry RelatesTo.
func ParseRequest(data []byte) (*Request, *Fault) {
	root, err := ParseTree(data)
	if err != nil {
		return &Request{}, SchemaValidation(err.Error())
	}
	if root.Space != NSEnvelope || root.Local != "Envelope" {
		return &Request{}, SchemaValidation("root element is not a SOAP 1.2 Envelope")
	}
	var header, body *Node
	for _, c := range root.Children {
		switch {
		case c.Space == NSEnvelope && c.Local == "Header" && header == nil && body == nil:
			header = c
		case c.Space == NSEnvelope && c.Local == "Body" && body == nil:
			body = c
		default:
			return &Request{}, SchemaValidation("unexpected element " + c.Local + " in Envelope")
		}
	}
	if header == nil || body == nil {
		return &Request{}, SchemaValidation("Envelope needs a Header and a Body")
	}
	req := &Request{}
	if f := parseHeader(header, req); f != nil {
		return req, f
	}
	switch len(body.Children) {
	case 0:
		if strings.TrimSpace(body.Text) != "" {
			return req, SchemaValidation("text in Body")
		}
	case 1:
		req.Body = body.Children[0]
	default:
		return req, SchemaValidation("more than one element in Body")
	}
	return req, nil
}

func parseHeader(header *Node, req *Request) *Fault {
	type name struct{ space, local string }
	seen := map[name]bool{}
	for _, h := range header.Children {
		key := name{h.Space, h.Local}
		if seen[key] {
			return InvalidHeader("duplicate " + h.Local)
		}
		seen[key] = true
		switch {
		case h.Space == NSAddressing && h.Local == "Action":
			req.Action = h.Value()
		case h.Space == NSAddressing && h.Local == "To":
			req.To = h.Value()
		case h.Space == NSAddressing && h.Local == "MessageID":
			req.MessageID = h.Value()
		case h.Space == NSAddressing && h.Local == "ReplyTo":
			addr := h.ChildNS(NSAddressing, "Address")
			if addr == nil {
				return HeaderRequired("ReplyTo/Address")
			}
			req.ReplyTo = addr.Value()
		case h.Space == NSWSMan && h.Local == "ResourceURI":
			req.ResourceURI = h.Value()
		case h.Space == NSWSMan && h.Local == "OperationTimeout":
			req.OperationTimeout = h.Value()
		case h.Space == NSWSMan && h.Local == "SelectorSet":
			sels, f := parseSelectorSet(h)
			if f != nil {
				return f
			}
			req.Selectors = sels
		default:
			if v, ok := h.Attr("mustUnderstand"); ok && (v == "true" || v == "1") {
				return &Fault{
					Code: "MustUnderstand", Reason: "Header " + h.Local + " was not understood.",
					Action: ActionFault,
				}
			}
		}
	}
	// WS-Man requires these on every request (DSP0226 §5.4); AMT refuses a message without them.
	for _, r := range []struct{ name, v string }{
		{"Action", req.Action}, {"To", req.To}, {"MessageID", req.MessageID},
		{"ReplyTo", req.ReplyTo}, {"ResourceURI", req.ResourceURI},
	} {
		if r.v == "" {
			return HeaderRequired(r.name)
		}
	}
	if req.ReplyTo != Anonymous {
		return InvalidHeader("ReplyTo must be the anonymous address")
	}
	if req.To != "/wsman" && !strings.HasSuffix(req.To, "/wsman") {
		return DestinationUnreachable("")
	}
	return nil
}

func parseSelectorSet(set *Node) ([]Selector, *Fault) {
	var out []Selector
	names := map[string]bool{}
	for _, s := range set.Children {
		if s.Space != NSWSMan || s.Local != "Selector" {
			return nil, InvalidSelectors()
		}
		name, ok := s.Attr("Name")
		if !ok || name == "" || names[name] {
			return nil, InvalidSelectors()
		}
		names[name] = true
		sel := Selector{Name: name, Value: s.Value()}
		if len(s.Children) > 0 {
			ref := parseEPR(s)
			if ref == nil {
				return nil, InvalidSelectors()
			}
			sel.Ref, sel.Value = ref, ""
		}
		out = append(out, sel)
	}
	return out, nil
}

// ParseEPR reads an endpoint reference held by n: either n's own Address and
// ReferenceParameters children or a wrapped a:EndpointReference. It returns nil when n
// holds no ReferenceParameters with a ResourceURI.
func ParseEPR(n *Node) *EPR { return parseEPR(n) }

func parseEPR(n *Node) *EPR {
	if wrapped := n.ChildNS(NSAddressing, "EndpointReference"); wrapped != nil {
		n = wrapped
	}
	rp := n.ChildNS(NSAddressing, "ReferenceParameters")
	if rp == nil {
		return nil
	}
	uri := rp.ChildNS(NSWSMan, "ResourceURI")
	if uri == nil || uri.Value() == "" {
		return nil
	}
	epr := &EPR{Address: n.ChildNS(NSAddressing, "Address").Value(), ResourceURI: uri.Value()}
	if set := rp.ChildNS(NSWSMan, "SelectorSet"); set != nil {
		sels, f := parseSelectorSet(set)
		if f != nil {
			return nil
		}
		epr.Selectors = sels
	}
	return epr
}
