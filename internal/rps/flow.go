package rps

import (
	"context"
	"crypto/tls"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/internal/store"
)

// op is one operation on one device: the command, the payload, who asks, and the AMT client over the relay.
type op struct {
	e      *Engine
	s      *session
	cmd    Command
	p      Payload
	token  string
	msgTen string // tenantId of the first message
	log    zerolog.Logger
	res    *result

	tenant      string
	host        Host
	ws          *wsman.Client
	amt         *amt.Client
	tlsPin      string // SHA-256 of AMT's TLS certificate, hex, once seen or loaded (tlstunnel.go)
	issuedPin   string // SHA-256 of the TLS certificate issued to AMT, until it is in force (tlsconfig.go)
	tlsSessions tls.ClientSessionCache
	prof        store.Profile
	gs          amt.GeneralSettings // as read by digestRealm
}

// dispatch decodes the first message and runs the operation it names.
func (e *Engine) dispatch(ctx context.Context, s *session, first clientMessage, token string) result {
	cmd := ParseCommand(first.Method)
	res := result{op: cmd.Op}
	switch cmd.Op {
	case OpActivate, OpDeactivate, OpMaintenance:
	default:
		res.op = "invalid"
	}
	if first.ProtocolVersion != "" && !SupportedProtocol(first.ProtocolVersion) {
		res.err = refuse("protocol version NOT supported: %s", first.ProtocolVersion)
		return res
	}
	p, err := DecodePayload(first.Payload, s.clientID)
	if err != nil {
		res.err = err
		return res
	}
	res.guid = p.UUID
	if res.op == "invalid" {
		res.err = refuse("Device %s Not a supported method received from AMT device", p.UUID)
		return res
	}
	release, err := e.claim(ctx, s, p.UUID) // cluster-wide: claim.go
	if err != nil {
		res.err = err
		return res
	}
	defer release()

	o := &op{
		e: e, s: s, cmd: cmd, p: p, token: token, msgTen: first.TenantID, res: &res,
		log: s.log.With().Str("guid", p.UUID).Str("op", cmd.Op).Logger(),
	}
	switch cmd.Op {
	case OpActivate:
		res.err = o.activate(ctx)
	case OpDeactivate:
		res.err = o.deactivate(ctx)
	default:
		res.err = o.maintenance(ctx)
	}
	return res
}

// setTenant records the tenant for logs and the outcome.
func (o *op) setTenant(t string) {
	o.tenant, o.res.tenant = t, t
	o.log = o.log.With().Str("tenant", t).Logger()
	if s, ok := o.e.cfg.Outcomes.(Starts); ok {
		s.Started(Outcome{Tenant: t, GUID: o.p.UUID, Op: o.cmd.Op, At: o.e.cfg.Now()})
	}
}

// step runs one bounded step and measures it. A step that outlives StepTimeout fails with *stepTimeoutError; when
// the whole session ends (rpc-go gone, overall deadline, shutdown) the session's cause is returned instead.
func (o *op) step(ctx context.Context, name string, fn func(context.Context) error) error {
	sctx, cancel := context.WithTimeout(ctx, o.e.cfg.StepTimeout)
	defer cancel()
	start := time.Now()
	err := fn(sctx)
	o.e.m.steps.WithLabelValues(name).Observe(time.Since(start).Seconds())
	if err == nil {
		return nil
	}
	// The relay may notice a deadline a moment before the context does: wait for the context to agree.
	expired := func(c context.Context) bool {
		d, ok := c.Deadline()
		if ok && errors.Is(err, context.DeadlineExceeded) && !time.Now().Before(d) {
			<-c.Done()
		}
		return c.Err() != nil
	}
	if expired(ctx) {
		return causeOf(ctx, ctx.Err())
	}
	if expired(sctx) {
		return &stepTimeoutError{step: name, d: o.e.cfg.StepTimeout}
	}
	return err
}

// sessionOver reports an error that ends the session whatever the step, so tolerant steps must not swallow it.
func sessionOver(ctx context.Context) error {
	if ctx.Err() != nil {
		return causeOf(ctx, ctx.Err())
	}
	return nil
}

// connect builds the WS-Man client over the relay (one exchange per request, `Connection: close`, §1.6), or over
// the TLS tunnel when the device enforces TLS on its local ports or rpc-go asks for it (§1.9).
func (o *op) connect(user string, pw adminPasswords) error {
	if o.p.tunnel() {
		return o.connectTLS(user, pw)
	}
	c, err := wsman.New(wsman.Config{
		Dialer: wsman.RelayDialer(o.s), Host: o.p.UUID + ":16992", Username: user, Password: pw.stored,
		FallbackPassword: pw.previous, DisableKeepAlive: true, Timeout: o.e.cfg.StepTimeout,
	})
	if err != nil {
		return err
	}
	o.setClient(c)
	return nil
}

// setClient installs the WS-Man client; from here on AMT may be changed, so the host reconciler must look again
// whatever the outcome (result.known).
func (o *op) setClient(c *wsman.Client) {
	o.ws, o.amt = c, amt.New(c)
	o.res.known = true
}

// digestRealm reads AMT_GeneralSettings, the first authenticated call, and checks the realm (§2.3 steps 2–3).
func (o *op) digestRealm(ctx context.Context) (string, error) {
	var gs amt.GeneralSettings
	err := o.step(ctx, "general_settings", func(ctx context.Context) error {
		var err error
		gs, err = o.amt.GeneralSettings(ctx)
		return err
	})
	if err != nil {
		if errors.Is(err, wsman.ErrAuthFailed) {
			return "", &failure{text: wsman.ErrAuthFailed.Error() + " (the AMT password given to rpc-go is not the " +
				"device's; use the device's current AMT password)", cause: err}
		}
		return "", fail("Failed to read AMT general settings.", err)
	}
	if !amt.ValidDigestRealm(gs.DigestRealm) {
		return "", fail("Not a valid digest realm.", nil)
	}
	o.gs = gs
	return gs.DigestRealm, nil
}

// reportedMode is the payload's currentMode (§1.5: 0 pre-provisioning, 1 CCM, 2 ACM) as a control mode; any other
// value maps to pre-provisioning, which has no mode name.
func reportedMode(m int) store.ControlMode {
	switch m {
	case 1:
		return store.ControlModeCCM
	case 2:
		return store.ControlModeACM
	}
	return store.ControlModePre
}

// modeName is the outcome's mode for a control mode.
func modeName(m store.ControlMode) string {
	switch m {
	case store.ControlModeCCM:
		return "ccm"
	case store.ControlModeACM:
		return "acm"
	}
	return ""
}
