package rps

import (
	"context"
	"time"
)

// pause waits d while keeping rpc-go's path alive: a `heartbeat_request` goes out every HeartbeatInterval (§1.8),
// so an ingress or proxy idle timer shorter than the wait (AMT's ~12 s settle after Setup, a port switch delay)
// does not cut the session. rpc-go answers with `heartbeat_response`, which is read and dropped here, as is
// anything else that arrives while nothing is pending (late tunnel bytes of a closed TLS session).
func (s *session) pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	end := time.NewTimer(d)
	defer end.Stop()
	var tick <-chan time.Time
	if iv := s.e.cfg.HeartbeatInterval; iv > 0 && d > iv {
		t := time.NewTicker(iv)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-end.C:
			return nil
		case <-ctx.Done():
			return causeOf(ctx, ctx.Err())
		case <-tick:
			if err := s.heartbeat(); err != nil {
				return err
			}
		case m := <-s.in:
			s.ignore(m)
		}
	}
}

// heartbeat sends one `heartbeat_request` (payload "", §1.3).
func (s *session) heartbeat() error {
	empty := ""
	if err := s.send(serverMessage{Method: methodHeartbeatRequest, Status: "ok", Payload: &empty}); err != nil {
		s.cancel(errPeerClosed)
		return errPeerClosed
	}
	s.heartbeats++
	return nil
}

// ignore logs a message that arrived when no exchange wanted it.
func (s *session) ignore(m clientMessage) {
	if m.Method != methodHeartbeatResponse {
		s.log.Debug().Str("method", m.Method).Msg("ignored a message while waiting")
	}
}

// await waits for a message with the given method, sending heartbeats meanwhile and dropping anything else.
func (s *session) await(ctx context.Context, method string) error {
	var tick <-chan time.Time
	if iv := s.e.cfg.HeartbeatInterval; iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
			if err := s.heartbeat(); err != nil {
				return err
			}
		case m := <-s.in:
			if m.Method == method {
				return nil
			}
			s.ignore(m)
		}
	}
}
