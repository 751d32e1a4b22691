package rps

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	dmmetrics "github.com/dmrm/dm-manager/internal/metrics"
)

// Defaults of the first-message caps.
const (
	DefaultMaxWaitingFirst      = 256
	DefaultMaxWaitingFirstPerIP = 32
)

// refusalLogBurst refused sessions are logged per minute; the others only counted (rps_outcomes_total), so that
// anyone able to open the websocket cannot fill the log.
const refusalLogBurst = 10

// errInternal ends a session whose flow panicked.
var errInternal = errors.New("dm-manager failed internally while serving this device; run the operation again")

// waitingRoom admits websockets that have not sent their first message yet, at most max in all and perIP from one
// source address, so idle sockets cannot pile up (each holds a goroutine, buffers and a FirstMessageTimeout
// timer). rpc-go sends its command right after the upgrade, so a device holds a place for milliseconds. Behind an
// ingress every socket comes from the ingress's address; the per-source cap then bounds the ingress as a whole.
type waitingRoom struct {
	mu         sync.Mutex
	max, perIP int
	total      int
	byIP       map[string]int
}

func newWaitingRoom(max, perIP int) *waitingRoom {
	return &waitingRoom{max: max, perIP: perIP, byIP: map[string]int{}}
}

// enter takes a place for ip; the returned leave gives it back and may be called any number of times.
func (w *waitingRoom) enter(ip string) (leave func(), ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.total >= w.max || w.byIP[ip] >= w.perIP {
		return nil, false
	}
	w.total++
	w.byIP[ip]++
	return sync.OnceFunc(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.total--
		if w.byIP[ip]--; w.byIP[ip] == 0 {
			delete(w.byIP, ip)
		}
	}), true
}

// admit takes a waiting place for the request's source address, or answers 503 and reports false.
func (e *Engine) admit(w http.ResponseWriter, r *http.Request) (leave func(), ok bool) {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	leave, ok = e.waiting.enter(ip)
	if !ok {
		e.refusedLog.Info().Str("remote", r.RemoteAddr).Msg("activation websocket refused: too many connections " +
			"waiting for their first message")
		w.Header().Set("Retry-After", "5")
		http.Error(w, "too many activation connections are waiting for their first message; retry in a few seconds",
			http.StatusServiceUnavailable)
	}
	return leave, ok
}

// serveRecovered runs serve; a panic in the flow costs this session only: rpc-go is told to run again, the device
// is released, the engine serves on.
func (s *session) serveRecovered(ctx context.Context, token string) (res result) {
	defer dmmetrics.RecoverPanic("websocket", s.log, func(any) {
		res = result{op: "internal_error", err: errInternal}
	})
	return s.serve(ctx, token)
}

func newRefusedLog(log zerolog.Logger) zerolog.Logger {
	return log.Sample(&zerolog.BurstSampler{Burst: refusalLogBurst, Period: time.Minute})
}
