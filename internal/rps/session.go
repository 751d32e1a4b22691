package rps

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	dmmetrics "github.com/dmrm/dm-manager/internal/metrics"
)

// lingerTimeout bounds the wait for rpc-go to close after the terminal message. Closing first, with bytes of
// rpc-go still unread, would reset the connection and could destroy the terminal message in flight.
const lingerTimeout = 2 * time.Second

// session is one rpc-go websocket. The flow goroutine (run) owns every text write; the reader goroutine owns
// every read and hands messages over on in; a fatal read problem cancels the flow context with its cause.
type session struct {
	e        *Engine
	ws       *websocket.Conn
	clientID string // RPS's per-socket id (§1.1), prefixes some reference texts
	remote   string
	log      zerolog.Logger

	in      chan clientMessage
	done    chan struct{} // closed when the flow has ended
	bg      sync.WaitGroup
	readEnd chan struct{} // closed when the reader has returned
	cancel  context.CancelCauseFunc

	firstArrived func() // gives back the place in the engine's waiting room; nil in none

	relayMu     sync.Mutex  // exactly one outstanding relay (§1.6)
	pending     atomic.Bool // a relay is waiting; a `response` at any other time is dropped (§1.3)
	exchanges   int
	heartbeats  int
	tlsMessages int
}

func newSession(e *Engine, ws *websocket.Conn, remote string) *session {
	id := uuid.NewString()
	return &session{
		e: e, ws: ws, clientID: id, remote: remote,
		log: e.log.With().Str("client_id", id).Str("remote", remote).Logger(),
		in:  make(chan clientMessage), done: make(chan struct{}), readEnd: make(chan struct{}),
	}
}

// result is how a flow ended.
type result struct {
	op     string
	tenant string
	guid   string
	mode   string
	status Status // success status, or the fields gathered before a failure
	err    error
	// known: the device is known in the tenant (a host in Inventory, a device record) or was reached. An
	// outcome without it (Outcome.Known false) starts no host reconcile, so a message naming a guessed tenant
	// and GUID costs one lookup, not a host reconcile as well.
	known bool
}

func (s *session) run(token string) {
	e := s.e
	e.m.active.Inc()
	defer e.m.active.Dec()
	ctx, stop := context.WithTimeoutCause(e.base, e.cfg.SessionTimeout, &sessionTimeoutError{e.cfg.SessionTimeout})
	defer stop()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s.cancel = cancel

	s.bg.Add(1)
	go s.readLoop()
	if e.cfg.PingInterval > 0 {
		s.bg.Add(1)
		go s.pingLoop()
	}

	res := s.serveRecovered(ctx, token)
	s.finish(res)
}

func (s *session) serve(ctx context.Context, token string) result {
	first, err := s.first(ctx)
	if s.firstArrived != nil {
		s.firstArrived()
	}
	if err != nil {
		return result{op: "invalid", err: err}
	}
	return s.e.dispatch(ctx, s, first, token)
}

// first waits for the command message; stray relay answers and heartbeats before it are ignored.
func (s *session) first(ctx context.Context) (clientMessage, error) {
	timer := time.NewTimer(s.e.cfg.FirstMessageTimeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return clientMessage{}, causeOf(ctx, ctx.Err())
		case <-timer.C:
			return clientMessage{}, errNoFirstMessage
		case m := <-s.in:
			if m.Method == methodHeartbeatResponse || m.Method == methodResponse {
				continue
			}
			return m, nil
		}
	}
}

// testHook, set only by tests (export_test.go), is called by the reader for each decoded message ("read") and by
// the pinger before each ping ("ping"), so a test can make either panic.
var testHook atomic.Pointer[func(where string)]

// readLoop reads frames until the connection ends. Oversized and binary frames stop the flow but are drained, so
// the terminal message can still reach rpc-go.
func (s *session) readLoop() {
	defer s.bg.Done()
	defer close(s.readEnd)
	// A panic here (rpc-go's bytes are in hand) costs this session only: the flow ends with errInternal.
	defer dmmetrics.RecoverPanic("websocket", s.log, func(any) { s.cancel(errInternal) })
	stopped := false
	stop := func(err error) {
		if !stopped {
			stopped = true
			s.cancel(err)
		}
	}
	for {
		typ, r, err := s.ws.NextReader()
		if err != nil {
			stop(errPeerClosed)
			return
		}
		if stopped {
			_, _ = io.Copy(io.Discard, r)
			continue
		}
		if typ != websocket.TextMessage {
			stop(errBinaryFrame)
			continue
		}
		data, err := io.ReadAll(io.LimitReader(r, MaxMessageBytes+1))
		if err != nil {
			stop(errPeerClosed)
			return
		}
		if len(data) > MaxMessageBytes {
			stop(errFrameTooLarge)
			_, _ = io.Copy(io.Discard, r)
			continue
		}
		var m clientMessage
		if err := json.Unmarshal(data, &m); err != nil {
			stop(&refusal{"Failed to parse client message payload. " + err.Error()})
			continue
		}
		if h := testHook.Load(); h != nil {
			(*h)("read")
		}
		if m.Method == methodResponse && !s.pending.Load() {
			s.log.Debug().Msg("dropped a response while no request was pending")
			continue
		}
		select {
		case s.in <- m:
		case <-s.done:
		}
	}
}

func (s *session) pingLoop() {
	defer s.bg.Done()
	defer dmmetrics.RecoverPanic("websocket", s.log, func(any) { s.cancel(errInternal) })
	t := time.NewTicker(s.e.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			if h := testHook.Load(); h != nil {
				(*h)("ping")
			}
			if s.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(5*time.Second)) != nil {
				return
			}
		}
	}
}

// send writes one message with the envelope fields RPS fills (§1.2).
func (s *session) send(m serverMessage) error {
	m.APIKey, m.AppVersion, m.ProtocolVersion = "xxxxx", s.e.cfg.AppVersion, ProtocolVersion
	b, err := json.Marshal(m) //nolint:gosec // G117: apiKey is the fixed placeholder RPS sends (§1.2), no secret
	if err != nil {
		return err
	}
	_ = s.ws.SetWriteDeadline(time.Now().Add(s.e.cfg.StepTimeout))
	return s.ws.WriteMessage(websocket.TextMessage, b)
}

// Exchange relays one raw HTTP request to AMT through rpc-go and returns AMT's raw answer (§1.6); it is the
// wsman.Exchanger of the session. A `response` answering an earlier, abandoned request is recognised by its
// RelatesTo and dropped; heartbeat answers and unknown methods are ignored.
func (s *session) Exchange(ctx context.Context, request []byte) ([]byte, error) {
	s.relayMu.Lock()
	defer s.relayMu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.pending.Store(true)
	defer s.pending.Store(false)
	payload := base64.StdEncoding.EncodeToString(request)
	if err := s.send(serverMessage{Method: methodWSMan, Status: "ok", Payload: &payload}); err != nil {
		s.cancel(errPeerClosed)
		return nil, errPeerClosed
	}
	s.exchanges++
	want := xmlText(request, "MessageID")
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case m := <-s.in:
			switch m.Method {
			case methodResponse:
				raw, err := base64.StdEncoding.DecodeString(m.Payload)
				if err != nil {
					return nil, errors.New("rpc-go sent a response whose payload is not base64")
				}
				if got := relatesTo(raw); want != "" && got != "" && got != want {
					s.log.Debug().Str("relates_to", got).Str("message_id", want).Msg("dropped a late response")
					continue
				}
				return raw, nil
			case methodHeartbeatResponse:
			default:
				s.log.Debug().Str("method", m.Method).Msg("ignored unexpected message during a relay")
			}
		}
	}
}

// relatesTo reads the RelatesTo of a relayed HTTP response, "" when there is none or it cannot be read (the
// WS-Man client then judges the response itself).
func relatesTo(raw []byte) string {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return ""
	}
	return xmlText(body, "RelatesTo")
}

// xmlText returns the text of the first element with the given local name, any prefix, or "".
func xmlText(b []byte, local string) string {
	tag := []byte(local + ">")
	for off := 0; ; {
		i := bytes.Index(b[off:], tag)
		if i < 0 {
			return ""
		}
		i += off
		off = i + len(tag)
		j := bytes.LastIndexByte(b[:i], '<')
		if j < 0 || j+1 >= len(b) || b[j+1] == '/' || bytes.ContainsAny(b[j:i], " \t\r\n>\"") {
			continue
		}
		end := bytes.IndexByte(b[off:], '<')
		if end < 0 {
			return ""
		}
		return string(bytes.TrimSpace(b[off : off+end]))
	}
}

// finish sends the terminal message (unless rpc-go is gone), records the outcome, and closes the socket.
func (s *session) finish(res result) {
	outcome, text := "success", res.status.Status
	var msg serverMessage
	switch res.err {
	case nil:
		msg = serverMessage{Method: methodSuccess, Status: "success", Message: res.status.JSON()}
	default:
		var r *refusal
		outcome, text = "error", public(res.err)
		if errors.As(res.err, &r) {
			outcome, text = "refused", r.text
			msg = serverMessage{Method: methodError, Status: "failed", Message: r.text} // plain text (§1.7)
		} else {
			st := res.status
			st.Status = text
			msg = serverMessage{Method: methodError, Status: "failed", Message: st.JSON()}
		}
	}
	if errors.Is(res.err, errPeerClosed) {
		outcome = "aborted"
	} else if err := s.send(msg); err != nil {
		outcome = "aborted"
		s.log.Debug().Err(err).Msg("terminal message not delivered")
	}
	s.e.m.sessions.WithLabelValues(res.op).Inc()
	s.e.m.outcomes.WithLabelValues(res.op, outcome).Inc()
	ev := s.log.Info()
	switch {
	case outcome == "refused":
		// Anyone who can open the websocket can be refused: info, and only refusalLogBurst a minute.
		ev = s.e.refusedLog.Info().Str("client_id", s.clientID).Str("remote", s.remote)
	case res.err != nil:
		ev = s.log.Warn().Err(res.err)
	}
	ev.Str("op", res.op).Str("tenant", res.tenant).Str("guid", res.guid).Str("result", outcome).
		Int("exchanges", s.exchanges).Int("heartbeats", s.heartbeats).Str("status", text).Msg("rpc session ended")
	if s.e.cfg.Outcomes != nil && res.tenant != "" && res.guid != "" {
		s.e.cfg.Outcomes.Notify(Outcome{
			Tenant: res.tenant, GUID: res.guid, Op: res.op, Mode: res.mode, OK: res.err == nil, Message: text,
			At: s.e.cfg.Now(), Known: res.err == nil || res.known,
		})
	}

	close(s.done)
	_ = s.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
		time.Now().Add(time.Second))
	select {
	case <-s.readEnd:
	case <-time.After(lingerTimeout):
	}
	_ = s.ws.Close()
	s.bg.Wait()
}
