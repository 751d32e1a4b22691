package amtsim

import (
	"fmt"
	"strconv"
	"time"

	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

// Enumeration contexts: AMT hands out a context per Enumerate and serves Pulls from a
// snapshot taken then. Contexts expire and only a few live at once per device.
const (
	maxEnumContexts = 8
	enumTTL         = time.Minute
)

type enumCtx struct {
	id      string
	uri     string
	items   [][]byte
	expires time.Time
}

type enumTable struct {
	ctxs []*enumCtx
	seq  uint32
}

func (d *Device) enumerate(cl *class, req *soap.Request, reply soap.Reply) (soap.Reply, *soap.Fault, func()) {
	b := req.Body
	if b == nil || b.Space != soap.NSEnumeration || b.Local != "Enumerate" {
		return reply, soap.SchemaValidation("Enumerate needs an Enumerate element"), nil
	}
	if len(b.Children) > 0 {
		return reply, soap.SchemaValidation("enumeration options are not supported"), nil
	}
	now := d.cfg.Clock()
	t := &d.enums
	t.ctxs = deleteWhere(t.ctxs, func(c *enumCtx) bool { return now.After(c.expires) })
	if len(t.ctxs) == maxEnumContexts {
		t.ctxs = t.ctxs[1:]
	}
	t.seq++
	ctx := &enumCtx{id: fmt.Sprintf("%08X-0000-0000-0000-000000000000", t.seq), uri: cl.uri, expires: now.Add(enumTTL)}
	for _, in := range cl.list(d) {
		ctx.items = append(ctx.items, soap.AppendInstance(nil, "h", in))
	}
	t.ctxs = append(t.ctxs, ctx)
	reply.Enumeration = true
	reply.Body = append([]byte("<g:EnumerateResponse><g:EnumerationContext>"), ctx.id...)
	reply.Body = append(reply.Body, "</g:EnumerationContext></g:EnumerateResponse>"...)
	return reply, nil, nil
}

func (d *Device) pull(cl *class, req *soap.Request, reply soap.Reply) (soap.Reply, *soap.Fault, func()) {
	b := req.Body
	if b == nil || b.Space != soap.NSEnumeration || b.Local != "Pull" {
		return reply, soap.SchemaValidation("Pull needs a Pull element"), nil
	}
	id := b.ChildNS(soap.NSEnumeration, "EnumerationContext").Value()
	// WS-Enumeration: MaxElements defaults to 1.
	maxElems := 1
	if m := b.ChildNS(soap.NSEnumeration, "MaxElements"); m != nil {
		v, err := strconv.Atoi(m.Value())
		if err != nil || v < 1 {
			return reply, soap.SchemaValidation("MaxElements must be a positive integer"), nil
		}
		maxElems = v
	}
	now := d.cfg.Clock()
	t := &d.enums
	var ctx *enumCtx
	for _, c := range t.ctxs {
		if c.id == id {
			ctx = c
		}
	}
	if ctx == nil || ctx.uri != cl.uri || now.After(ctx.expires) {
		return reply, soap.InvalidEnumerationContext(), nil
	}
	n := min(maxElems, len(ctx.items))
	items := ctx.items[:n]
	ctx.items = ctx.items[n:]
	reply.Enumeration = true
	body := []byte("<g:PullResponse>")
	if len(ctx.items) > 0 {
		body = append(body, "<g:EnumerationContext>"...)
		body = append(body, ctx.id...)
		body = append(body, "</g:EnumerationContext>"...)
	}
	body = append(body, "<g:Items>"...)
	for _, it := range items {
		body = append(body, it...)
	}
	body = append(body, "</g:Items>"...)
	if len(ctx.items) == 0 {
		body = append(body, "<g:EndOfSequence></g:EndOfSequence>"...)
		t.ctxs = deleteWhere(t.ctxs, func(c *enumCtx) bool { return c == ctx })
	}
	reply.Body = append(body, "</g:PullResponse>"...)
	return reply, nil, nil
}
