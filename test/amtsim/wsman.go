package amtsim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

// call is one authenticated WS-Man request being dispatched; d.mu is held throughout.
type call struct {
	d     *Device
	req   *soap.Request
	local bool
	who   initiator
}

// method is one extrinsic method of a class.
type method struct {
	params []string // the input parameters the method takes; anything else is refused
	// hostOnly methods (host-based setup) are refused on the network side.
	hostOnly bool
	run      func(c *call, p *params) (outs []soap.Prop, rv int, post func())
}

// class is one CIM/AMT/IPS class the firmware serves.
type class struct {
	name string
	uri  string
	// itemsNS, when set, is the namespace of the instances an enumeration returns
	// because they are of another class (a subclass, e.g. CIM_PhysicalPackage lists
	// CIM_Card); AMT binds the h prefix to it (go-wsman fixtures).
	itemsNS string
	list    func(d *Device) []*soap.Instance
	put     func(c *call, cur *soap.Instance, body *soap.Node) (*soap.Instance, *soap.Fault)
	del     func(c *call, cur *soap.Instance) *soap.Fault
	// create makes an instance from a Create body (the class element, checked by dispatch).
	create  func(c *call, body *soap.Node) (*soap.Instance, *soap.Fault)
	methods map[string]method
}

// registry maps resource URI to class.
var registry = func() map[string]*class {
	m := map[string]*class{}
	for _, group := range [][]*class{powerClasses(), infoClasses(), setupClasses(), ciraClasses(), configClasses(),
		timeClasses(), bootClasses(), alarmClasses(), tlsConfigClasses()} {
		for _, c := range group {
			m[c.uri] = c
		}
	}
	return m
}()

func cimClass(name string) *class { return &class{name: name, uri: soap.CIMPrefix + name} }
func amtClass(name string) *class { return &class{name: name, uri: soap.AMTPrefix + name} }
func ipsClass(name string) *class { return &class{name: name, uri: soap.IPSPrefix + name} }

// dispatch runs the request against the class table (protocol-cira-wsman §9–10).
func (d *Device) dispatch(c *call) (soap.Reply, *soap.Fault, func()) {
	req := c.req
	d.countRequest(req.Action)
	cl := registry[req.ResourceURI]
	if cl == nil {
		return soap.Reply{}, soap.DestinationUnreachable(soap.DetailInvalidResourceURI), nil
	}
	reply := soap.Reply{ClassNS: cl.uri, Action: req.Action + "Response"}
	switch req.Action {
	case soap.ActionGet:
		in, f := d.find(cl, req)
		if f == nil && req.Body != nil {
			f = soap.SchemaValidation("Get takes an empty Body")
		}
		if f != nil {
			return reply, f, nil
		}
		reply.Body = soap.AppendInstance(nil, "g", in)
		return reply, nil, nil
	case soap.ActionPut:
		return d.doPut(c, cl, reply)
	case soap.ActionDelete:
		if cl.del == nil {
			return reply, soap.ActionNotSupported(req.Action), nil
		}
		in, f := d.find(cl, req)
		if f == nil {
			f = cl.del(c, in)
		}
		return reply, f, nil
	case soap.ActionCreate:
		return d.doCreate(c, cl, reply)
	case soap.ActionEnumerate:
		return d.enumerate(cl, req, reply)
	case soap.ActionPull:
		if cl.itemsNS != "" {
			reply.ClassNS = cl.itemsNS
		}
		return d.pull(cl, req, reply)
	}
	name, ok := strings.CutPrefix(req.Action, cl.uri+"/")
	m, known := cl.methods[name]
	if !ok || !known {
		return reply, soap.ActionNotSupported(req.Action), nil
	}
	if m.hostOnly && !c.local {
		return reply, soap.AccessDenied(), nil
	}
	p, f := inputParams(cl, name, m, req.Body)
	if f != nil {
		return reply, f, nil
	}
	outs, rv, post := m.run(c, p)
	if p.fault != nil {
		return reply, p.fault, nil
	}
	reply.Body = soap.AppendOutput(nil, "g", name, outs, rv)
	return reply, nil, post
}

func (d *Device) doPut(c *call, cl *class, reply soap.Reply) (soap.Reply, *soap.Fault, func()) {
	req := c.req
	if cl.put == nil {
		return reply, soap.ActionNotSupported(req.Action), nil
	}
	in, f := d.find(cl, req)
	if f != nil {
		return reply, f, nil
	}
	if req.Body == nil || req.Body.Local != cl.name || req.Body.Space != cl.uri {
		return reply, soap.SchemaValidation("Put needs a " + cl.name + " element in the class namespace"), nil
	}
	out, f := cl.put(c, in, req.Body)
	if f != nil {
		return reply, f, nil
	}
	reply.Body = soap.AppendInstance(nil, "g", out)
	return reply, nil, nil
}

// doCreate answers WS-Transfer Create with ResourceCreated, the reference of the new instance (its key
// properties as selectors).
func (d *Device) doCreate(c *call, cl *class, reply soap.Reply) (soap.Reply, *soap.Fault, func()) {
	req := c.req
	if cl.create == nil {
		return reply, soap.ActionNotSupported(req.Action), nil
	}
	if len(req.Selectors) > 0 {
		return reply, soap.InvalidSelectors(), nil
	}
	if req.Body == nil || req.Body.Local != cl.name || req.Body.Space != cl.uri {
		return reply, soap.SchemaValidation("Create needs a " + cl.name + " element in the class namespace"), nil
	}
	in, f := cl.create(c, req.Body)
	if f != nil {
		return reply, f, nil
	}
	epr := &soap.EPR{ResourceURI: cl.uri}
	for _, p := range in.Props {
		sel := soap.Selector{Name: p.Name, Ref: p.Ref}
		if p.Ref == nil && len(p.Values) == 1 {
			sel.Value = p.Values[0]
		}
		epr.Selectors = append(epr.Selectors, sel)
	}
	reply.Body = append([]byte(`<t:ResourceCreated xmlns:t="`+soap.NSTransfer+`">`), soap.AppendEPR(nil, epr)...)
	reply.Body = append(reply.Body, `</t:ResourceCreated>`...)
	return reply, nil, nil
}

// find resolves the request's selectors to exactly one instance. A class with one
// instance needs no selectors; otherwise they must identify one.
func (d *Device) find(cl *class, req *soap.Request) (*soap.Instance, *soap.Fault) {
	all := cl.list(d)
	var hits []*soap.Instance
	for _, in := range all {
		if in.Matches(req.Selectors) {
			hits = append(hits, in)
		}
	}
	switch {
	case len(hits) == 0:
		return nil, soap.DestinationUnreachable("")
	case len(hits) > 1:
		return nil, soap.InvalidSelectors()
	}
	return hits[0], nil
}

// params reads a method's <Method>_INPUT element; the first problem becomes a fault.
type params struct {
	in    *soap.Node
	fault *soap.Fault
}

func inputParams(cl *class, name string, m method, body *soap.Node) (*params, *soap.Fault) {
	if body == nil || body.Local != name+"_INPUT" || body.Space != cl.uri {
		return nil, soap.SchemaValidation("expected " + name + "_INPUT in the class namespace")
	}
	seen := map[string]bool{}
	for _, ch := range body.Children {
		if ch.Space != cl.uri || !slices.Contains(m.params, ch.Local) || seen[ch.Local] {
			return nil, soap.SchemaValidation(fmt.Sprintf("unexpected parameter %s", ch.Local))
		}
		seen[ch.Local] = true
	}
	return &params{in: body}, nil
}

func (p *params) fail(format string, a ...any) {
	if p.fault == nil {
		p.fault = soap.SchemaValidation(fmt.Sprintf(format, a...))
	}
}

// failed reports whether a parameter was missing or malformed.
func (p *params) failed() bool { return p.fault != nil }

// str returns a required parameter's text.
func (p *params) str(name string) string {
	n := p.in.Child(name)
	if n == nil || len(n.Children) > 0 {
		p.fail("missing parameter %s", name)
		return ""
	}
	return n.Value()
}

// opt returns an optional parameter's text.
func (p *params) opt(name string) string { return p.in.Child(name).Value() }

func (p *params) int(name string) int {
	s := p.str(name)
	if p.failed() {
		return 0
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		p.fail("parameter %s is not an integer", name)
	}
	return v
}

func (p *params) bool(name string) bool {
	s := p.str(name)
	if !p.failed() && s != "true" && s != "false" {
		p.fail("parameter %s is not a boolean", name)
	}
	return s == "true"
}

func (p *params) ref(name string) *soap.EPR {
	n := p.in.Child(name)
	if n == nil {
		p.fail("missing parameter %s", name)
		return nil
	}
	epr := soap.ParseEPR(n)
	if epr == nil {
		p.fail("parameter %s is not an endpoint reference", name)
	}
	return epr
}

// selectorValue returns the named selector of an endpoint reference.
func selectorValue(epr *soap.EPR, name string) string {
	if epr == nil {
		return ""
	}
	for _, s := range epr.Selectors {
		if s.Name == name {
			return s.Value
		}
	}
	return ""
}

// systemEPR is a reference to an instance scoped to the AMT system, with AMT's usual
// CreationClassName/SystemCreationClassName/SystemName selectors around the key.
func systemEPR(className, keyName, keyValue string, prefix string) *soap.EPR {
	return &soap.EPR{ResourceURI: prefix + className, Selectors: []soap.Selector{
		{Name: "CreationClassName", Value: className},
		{Name: keyName, Value: keyValue},
		{Name: "SystemCreationClassName", Value: "CIM_ComputerSystem"},
		{Name: "SystemName", Value: "Intel(r) AMT"},
	}}
}

// service renders the usual properties of an AMT service singleton.
func service(className, name string, extra ...soap.Prop) *soap.Instance {
	props := []soap.Prop{
		soap.P("CreationClassName", className),
		soap.P("ElementName", name),
		soap.P("Name", name),
		soap.P("SystemCreationClassName", "CIM_ComputerSystem"),
		soap.P("SystemName", "Intel(r) AMT"),
	}
	return &soap.Instance{Class: className, Props: append(props, extra...)}
}
