package amt

import (
	"context"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

var (
	uriRedirectionService = wsman.AMT("AMT_RedirectionService")
	uriKVMRedirectionSAP  = wsman.CIM("CIM_KVMRedirectionSAP")
	uriOptInService       = wsman.IPS("IPS_OptInService")
)

// Redirection states of AMT_RedirectionService.EnabledState / RequestStateChange (protocol-rps-activation §2.8).
const (
	RedirectionNone    = 32768
	RedirectionIDER    = 32769
	RedirectionSOL     = 32770
	RedirectionSOLIDER = 32771
)

// RedirectionState is the EnabledState for the wanted SOL and IDER.
func RedirectionState(sol, ider bool) int {
	s := RedirectionNone
	if ider {
		s |= 1
	}
	if sol {
		s |= 2
	}
	return s
}

// RedirectionService is AMT_RedirectionService.
type RedirectionService struct {
	CreationClassName       string
	ElementName             string
	EnabledState            int
	ListenerEnabled         bool
	Name                    string
	SystemCreationClassName string
	SystemName              string
}

// SOL reports whether EnabledState enables serial over LAN.
func (r RedirectionService) SOL() bool {
	return r.EnabledState&2 != 0 && r.EnabledState >= RedirectionNone
}

// IDER reports whether EnabledState enables IDE redirection.
func (r RedirectionService) IDER() bool {
	return r.EnabledState&1 != 0 && r.EnabledState >= RedirectionNone
}

// RedirectionService reads AMT_RedirectionService.
func (c *Client) RedirectionService(ctx context.Context) (RedirectionService, error) {
	var v RedirectionService
	return v, c.get(ctx, uriRedirectionService, &v)
}

// SetRedirectionState enables SOL/IDER (RequestStateChange, 32768..32771).
func (c *Client) SetRedirectionState(ctx context.Context, state int) error {
	return c.invoke(ctx, uriRedirectionService, "RequestStateChange", nil, wsman.Int("RequestedState", int64(state)))
}

// PutRedirectionService writes ListenerEnabled (the AccessLog property is never sent, §2.8 step 4).
func (c *Client) PutRedirectionService(ctx context.Context, r RedirectionService) error {
	p := params{}
	p.text("CreationClassName", r.CreationClassName)
	p.text("ElementName", r.ElementName)
	p.boolean("ListenerEnabled", r.ListenerEnabled)
	p.text("Name", r.Name)
	p.text("SystemCreationClassName", r.SystemCreationClassName)
	p.text("SystemName", r.SystemName)
	_, err := c.ws.Put(ctx, uriRedirectionService, p)
	return err
}

// KVMRedirectionSAP is CIM_KVMRedirectionSAP; KVM is on when EnabledState is 2 (enabled) or 6 (enabled but
// offline).
type KVMRedirectionSAP struct {
	EnabledState   int
	RequestedState int
	Name           string
}

// Enabled reports whether KVM is on.
func (k KVMRedirectionSAP) Enabled() bool { return k.EnabledState == 2 || k.EnabledState == 6 }

// KVMRedirectionSAP reads CIM_KVMRedirectionSAP.
func (c *Client) KVMRedirectionSAP(ctx context.Context) (KVMRedirectionSAP, error) {
	var v KVMRedirectionSAP
	return v, c.get(ctx, uriKVMRedirectionSAP, &v)
}

// SetKVM enables (RequestedState 2) or disables (3) KVM redirection.
func (c *Client) SetKVM(ctx context.Context, on bool) error {
	s := int64(3)
	if on {
		s = 2
	}
	return c.invoke(ctx, uriKVMRedirectionSAP, "RequestStateChange", nil, wsman.Int("RequestedState", s))
}

// OptInRequired values of IPS_OptInService (user consent, §2.8 step 5).
const (
	OptInNone = 0
	OptInKVM  = 1
	OptInAll  = 4294967295
)

// OptInService is IPS_OptInService.
type OptInService struct {
	CreationClassName       string
	ElementName             string
	Name                    string
	OptInCodeTimeout        int
	OptInDisplayTimeout     int
	OptInRequired           uint32
	SystemCreationClassName string
	SystemName              string
}

// OptInService reads IPS_OptInService.
func (c *Client) OptInService(ctx context.Context) (OptInService, error) {
	var v OptInService
	return v, c.get(ctx, uriOptInService, &v)
}

// PutOptInService writes the user consent policy and its timeouts.
func (c *Client) PutOptInService(ctx context.Context, o OptInService) error {
	p := params{}
	p.text("CreationClassName", o.CreationClassName)
	p.text("ElementName", o.ElementName)
	p.text("Name", o.Name)
	p.nonZero("OptInCodeTimeout", o.OptInCodeTimeout)
	p.nonZero("OptInDisplayTimeout", o.OptInDisplayTimeout)
	p = append(p, wsman.Int("OptInRequired", int64(o.OptInRequired)))
	p.text("SystemCreationClassName", o.SystemCreationClassName)
	p.text("SystemName", o.SystemName)
	_, err := c.ws.Put(ctx, uriOptInService, p)
	return err
}
