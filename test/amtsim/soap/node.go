// Package soap parses the WS-Man SOAP 1.2 requests AMT accepts and renders responses and
// faults in AMT's shape (protocol-cira-wsman §9, protocol-rps-activation §7.8–7.9).
// Elements are matched by namespace and local name, never by prefix.
package soap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// Namespaces and well-known URIs (protocol-cira-wsman §9.1–9.2).
const (
	NSEnvelope    = "http://www.w3.org/2003/05/soap-envelope"
	NSAddressing  = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	NSWSMan       = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	NSEnumeration = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
	NSTrust       = "http://schemas.xmlsoap.org/ws/2005/02/trust"
	NSSecExt      = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	NSCIMBinding  = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd"
	NSCommon      = "http://schemas.dmtf.org/wbem/wscim/1/common"
	NSXSI         = "http://www.w3.org/2001/XMLSchema-instance"

	Anonymous = NSAddressing + "/role/anonymous"

	CIMPrefix = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
	AMTPrefix = "http://intel.com/wbem/wscim/1/amt-schema/1/"
	IPSPrefix = "http://intel.com/wbem/wscim/1/ips-schema/1/"

	ActionGet       = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
	ActionPut       = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Put"
	ActionCreate    = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
	ActionDelete    = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
	ActionEnumerate = NSEnumeration + "/Enumerate"
	ActionPull      = NSEnumeration + "/Pull"
	ActionFault     = NSAddressing + "/fault"
)

// Parser limits: a WS-Man request is shallow and small.
const (
	maxDepth = 32
	maxNodes = 4096
)

// Node is one XML element with its namespace-resolved name.
type Node struct {
	Space    string
	Local    string
	Attrs    []xml.Attr
	Children []*Node
	// Text is the element's character data; empty for elements with children.
	Text string
}

// Child returns the first child element with the given local name, in any namespace.
func (n *Node) Child(local string) *Node {
	if n == nil {
		return nil
	}
	for _, c := range n.Children {
		if c.Local == local {
			return c
		}
	}
	return nil
}

// ChildNS returns the first child element with the given namespace and local name.
func (n *Node) ChildNS(space, local string) *Node {
	if n == nil {
		return nil
	}
	for _, c := range n.Children {
		if c.Space == space && c.Local == local {
			return c
		}
	}
	return nil
}

// All returns every child element with the given local name.
func (n *Node) All(local string) []*Node {
	if n == nil {
		return nil
	}
	var out []*Node
	for _, c := range n.Children {
		if c.Local == local {
			out = append(out, c)
		}
	}
	return out
}

// Value is the trimmed text of the element.
func (n *Node) Value() string {
	if n == nil {
		return ""
	}
	return strings.TrimSpace(n.Text)
}

// Attr returns the value of the attribute with the given local name.
func (n *Node) Attr(local string) (string, bool) {
	for _, a := range n.Attrs {
		if a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

var errLimit = errors.New("document exceeds parser limits")

// ParseTree parses one XML document into a tree, rejecting DTDs, trailing content,
// mixed content and documents beyond the depth/node limits.
func ParseTree(data []byte) (*Node, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	var (
		root  *Node
		stack []*Node
		nodes int
		// Nodes are carved from slabs rather than allocated one by one; the first is
		// sized by the start tags (and processing instructions) the document holds.
		slab = make([]Node, 0, min(bytes.Count(data, []byte("<"))-bytes.Count(data, []byte("</")), 64))
	)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			nodes++
			if nodes > maxNodes || len(stack) >= maxDepth {
				return nil, errLimit
			}
			if root != nil && len(stack) == 0 {
				return nil, errors.New("more than one root element")
			}
			if len(slab) == cap(slab) {
				slab = make([]Node, 0, min(2*cap(slab)+16, 256))
			}
			slab = append(slab, Node{Space: t.Name.Space, Local: t.Name.Local, Attrs: t.Attr})
			n := &slab[len(slab)-1]
			if len(stack) == 0 {
				root = n
			} else {
				parent := stack[len(stack)-1]
				if strings.TrimSpace(parent.Text) != "" {
					return nil, errors.New("mixed content")
				}
				parent.Text = ""
				parent.Children = append(parent.Children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) != 0 {
					return nil, errors.New("text outside the root element")
				}
				continue
			}
			top := stack[len(stack)-1]
			if len(top.Children) > 0 {
				if len(bytes.TrimSpace(t)) != 0 {
					return nil, errors.New("mixed content")
				}
				continue
			}
			top.Text += string(t)
		case xml.Directive:
			return nil, errors.New("DTDs are not accepted")
		}
	}
	if root == nil {
		return nil, errors.New("empty document")
	}
	return root, nil
}
