package ciragw

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/ciragw/apf"
)

// handle is the session state table. The handshake of §3 is enforced in
// order (MPS enforces none; §3 recommends it): anything out of order ends the
// session with DISCONNECT PROTOCOL_ERROR.
func (s *session) handle(ctx context.Context, m apf.Message) error {
	switch m := m.(type) {
	case apf.Disconnect:
		s.event(zerolog.DebugLevel).Stringer("reason", m.Reason).Msg("device disconnected")
		return errPeerDisconnected
	case apf.KeepaliveRequest:
		if s.state < stPortForward {
			break
		}
		s.g.m.keepalives.Inc()
		return s.send(apf.KeepaliveReply(m))
	case apf.KeepaliveReply:
		if s.state < stPortForward {
			break
		}
		return nil
	case apf.KeepaliveOptionsReply:
		if !s.kaOptsSent {
			break
		}
		s.event(zerolog.DebugLevel).Uint32("interval", m.Interval).Uint32("timeout", m.Timeout).Msg("keepalive options accepted")
		return nil
	case apf.ProtocolVersion:
		if s.state != stVersion {
			break
		}
		// Identity is the UUID of PROTOCOLVERSION (§4.2). MPS does not
		// answer it (§2.3), and neither do we.
		s.guid = apf.GUIDString(m.UUID)
		s.state = stAuthService
		return nil
	case apf.ServiceRequest:
		return s.serviceRequest(m.Name)
	case apf.UserAuthRequest:
		if s.state != stUserAuth {
			break
		}
		return s.userAuth(ctx, m)
	case apf.GlobalRequest:
		if s.state < stForwarding {
			break
		}
		return s.globalRequest(m)
	case apf.ChannelOpen:
		if s.state != stEstablished {
			break
		}
		// AMT-initiated channels are refused as MPS does (§5.1).
		return s.send(apf.ChannelOpenFailure{RecipientChannel: m.SenderChannel, Reason: apf.OpenUnknownChannelType})
	case apf.ChannelOpenConfirmation, apf.ChannelOpenFailure, apf.ChannelWindowAdjust, apf.ChannelData, apf.ChannelClose:
		if s.state != stEstablished {
			break
		}
		return s.mux.dispatch(m)
	}
	return protocolErrorf("%s not expected in handshake state %d", m.Type(), s.state)
}

func (s *session) serviceRequest(name string) error {
	var want string
	switch s.state {
	case stAuthService:
		want = apf.ServiceAuth
	case stPortForward:
		want = apf.ServicePortForward
	default:
		return protocolErrorf("SERVICE_REQUEST %q not expected in handshake state %d", name, s.state)
	}
	if name != want {
		return &ProtocolError{Reason: apf.DisconnectServiceNotAvailable, Msg: "service " + name + " requested, want " + want}
	}
	if err := s.send(apf.ServiceAccept{Name: name}); err != nil {
		return err
	}
	s.state++
	return nil
}

// userAuth checks the password login of §3 step 4. Failed logins are
// rate-limited per source IP (over the limit the session ends before
// credentials are looked at) and slowed per GUID (see authenticate). The
// device never learns which part of a refused login was wrong.
func (s *session) userAuth(ctx context.Context, m apf.UserAuthRequest) error {
	if m.Service != apf.ServicePortForward {
		return protocolErrorf("USERAUTH_REQUEST for service %q, want %s", m.Service, apf.ServicePortForward)
	}
	if m.Method != apf.MethodPassword {
		// An SSH-style "none" probe: name the one method we take.
		return s.send(apf.UserAuthFailure{Methods: apf.MethodPassword})
	}
	actx, cancel := context.WithDeadline(ctx, s.hsDeadline)
	defer cancel()
	tenant, err := s.authenticate(actx, m.Username, m.Password)
	var rl rateLimited
	switch {
	case err == nil:
	case errors.As(err, &rl):
		return s.refuseRateLimited(string(rl))
	case errors.Is(err, ErrUnknownDevice) || errors.Is(err, ErrBadCredentials):
		reason := reasonBadCredentials
		switch {
		case s.slowed:
			reason = reasonRateLimitGUID
		case errors.Is(err, ErrUnknownDevice):
			reason = reasonUnknownDevice
		}
		s.g.m.authFailures.WithLabelValues(reason).Inc()
		s.hsResult = resultAuthFailed
		s.event(zerolog.WarnLevel).Str("reason", reason).Str("username", m.Username).Msg("CIRA login refused")
		if err := s.send(apf.UserAuthFailure{Methods: apf.MethodPassword}); err != nil {
			return err
		}
		return &ProtocolError{Reason: apf.DisconnectNoMoreAuthMethodsAvailable, Msg: "login refused"}
	case actx.Err() != nil:
		// Out of time, waiting for a turn or for the Authenticator: end as a
		// handshake timeout (or a shutdown), which classify tells apart.
		return fmt.Errorf("CIRA login not decided within the handshake deadline: %w", actx.Err())
	default:
		s.g.m.authFailures.WithLabelValues(reasonBackend).Inc()
		s.hsResult = resultBackendError
		return &ProtocolError{Reason: apf.DisconnectTemporarilyUnavailable, Msg: "authenticator: " + err.Error()}
	}
	s.tenant = tenant
	if err := s.send(apf.UserAuthSuccess{}); err != nil {
		return err
	}
	s.state = stPortForward
	return nil
}

// rateLimited is the reason label of a login refused by a failure budget.
type rateLimited string

func (r rateLimited) Error() string { return "login refused: " + string(r) }

// authenticate runs the Authenticator under the login limits. The source IP's
// failure budget refuses at once (a guesser's address loses its turns, the
// device's own address keeps them). The GUID's budget never refuses: anyone
// who knows a GUID could otherwise keep that device out by failing on purpose,
// and a GUID is no secret (it is in PROTOCOLVERSION and on the host's label).
// Instead every login is checked, and once the GUID is over its budget a
// refused one is answered only after LoginFailureDelay, holding its source's
// login turn meanwhile: guesses at one device slow down to what the sources'
// own budgets and turns allow, while the right password is let in at once.
// The budgets are charged only when the Authenticator refuses the credentials.
func (s *session) authenticate(ctx context.Context, user, pass string) (string, error) {
	g := s.g
	if !g.ipLimit.allow(s.ip, time.Now()) {
		return "", rateLimited(reasonRateLimitIP)
	}
	if err := g.logins.enter(ctx, s.ip); err != nil {
		return "", err
	}
	defer g.logins.leave(s.ip)
	// Logins that ended while this one waited may have spent the budget.
	if !g.ipLimit.allow(s.ip, time.Now()) {
		return "", rateLimited(reasonRateLimitIP)
	}
	tenant, err := g.cfg.Authenticator.Authenticate(ctx, s.guid, user, pass)
	if errors.Is(err, ErrUnknownDevice) || errors.Is(err, ErrBadCredentials) {
		now := time.Now()
		g.ipLimit.charge(s.ip, now)
		over := !g.guidLimit.allow(s.guid, now)
		g.guidLimit.charge(s.guid, now)
		if over {
			s.slowed = true
			t := time.NewTimer(g.cfg.LoginFailureDelay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		}
	}
	return tenant, err
}

func (s *session) refuseRateLimited(reason string) error {
	s.g.m.authFailures.WithLabelValues(reason).Inc()
	s.hsResult = resultRateLimited
	s.event(zerolog.WarnLevel).Str("reason", reason).Msg("CIRA login refused before checking credentials")
	return &ProtocolError{Reason: apf.DisconnectByPolicy, Msg: "too many failed logins"}
}

// globalRequest answers the forwarding requests of §2.3 as MPS does. The
// first tcpip-forward establishes the session.
func (s *session) globalRequest(m apf.GlobalRequest) error {
	switch m.Name {
	case apf.RequestTCPIPForward:
		if m.WantReply {
			if err := s.send(apf.RequestSuccess{Port: m.Port}); err != nil {
				return err
			}
		}
		s.forwards++
		if s.state == stForwarding {
			s.state = stEstablished
			s.establish()
		}
		// MPS sends the keepalive options after the forward of 5900, the
		// console after the 4th forward (§3 step 6); whichever comes first.
		if !s.kaOptsSent && (m.Port == uint32(apf.PortVNC) || s.forwards == 4) {
			s.kaOptsSent = true
			return s.send(apf.KeepaliveOptionsRequest{
				Interval: wireSeconds(s.g.cfg.KeepaliveInterval),
				Timeout:  wireSeconds(s.g.cfg.KeepaliveTimeout),
			})
		}
		return nil
	case apf.RequestCancelTCPIPForward:
		if m.WantReply {
			return s.send(apf.RequestSuccess{Portless: true})
		}
		return nil
	case apf.RequestUDPSendTo:
		return nil
	}
	if m.WantReply {
		return s.send(apf.RequestFailure{})
	}
	return nil
}

func (s *session) establish() {
	s.mux.init(s, &s.g.muxCfg, s.guid)
	s.connectedAt = time.Now()
	s.releasePending()
	s.g.m.handshakes.WithLabelValues(resultOK).Inc()
	s.g.register(s)
	s.event(zerolog.InfoLevel).Msg("CIRA session established")
}

// wireSeconds is d in whole seconds for KEEPALIVE_OPTIONS_REQUEST, clamped to
// its u32 fields (§6); a negative duration means none, 0.
func wireSeconds(d time.Duration) uint32 {
	return uint32(max(0, min(int64(d/time.Second), math.MaxUint32)))
}
