package southbound

import (
	"context"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/dmrm/dm-manager/internal/metrics"
)

// Limits bound what one agent connection may hold on the southbound port. Zero fields take the defaults.
type Limits struct {
	// MaxConnectionIdle closes (GOAWAY) a connection with no call in progress for this long; agents call every
	// heartbeat and reconnect on their own (default 5m).
	MaxConnectionIdle time.Duration
	// MaxConcurrentStreams caps calls in flight per connection; an agent makes one at a time (default 32).
	MaxConcurrentStreams uint32
	// MinPingInterval: a client pinging more often is told GOAWAY ENHANCE_YOUR_CALM ("too_many_pings") and
	// disconnected. 10s is the shortest keepalive a gRPC client can be configured with, so no well-behaved
	// agent is refused; pings without a call in progress are allowed (default 10s).
	MinPingInterval time.Duration
	// PingAfter and PingTimeout: the server pings a connection silent for PingAfter and closes it if no answer
	// comes within PingTimeout, so half-open connections of vanished nodes are reclaimed (defaults 2m, 20s).
	PingAfter, PingTimeout time.Duration
}

func (l Limits) withDefaults() Limits {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&l.MaxConnectionIdle, 5*time.Minute)
	def(&l.MinPingInterval, 10*time.Second)
	def(&l.PingAfter, 2*time.Minute)
	def(&l.PingTimeout, 20*time.Second)
	if l.MaxConcurrentStreams == 0 {
		l.MaxConcurrentStreams = 32
	}
	return l
}

func (l Limits) serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: l.MinPingInterval, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: l.MaxConnectionIdle, Time: l.PingAfter, Timeout: l.PingTimeout,
		}),
		grpc.MaxConcurrentStreams(l.MaxConcurrentStreams),
	}
}

// errPanicked is what a caller whose call panicked is told; the details are in the server's error log only.
var errPanicked = status.Error(codes.Internal, "internal error while serving the call; it was not completed, retry it")

// RecoverUnary turns a panic in a unary call (interceptors after it included) into codes.Internal for that call
// only, logged and counted in dm_manager_panics_recovered_total{component="grpc"}.
func RecoverUnary(log zerolog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		defer metrics.RecoverPanic("grpc", log.With().Str("method", info.FullMethod).Logger(), func(any) {
			resp, err = nil, errPanicked
		})
		return h(ctx, req)
	}
}

// RecoverStream is RecoverUnary for streaming calls.
func RecoverStream(log zerolog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
		defer metrics.RecoverPanic("grpc", log.With().Str("method", info.FullMethod).Logger(), func(any) {
			err = errPanicked
		})
		return h(srv, ss)
	}
}
