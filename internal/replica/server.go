// Package replica is the small authenticated API dm-manager replicas of one deployment use among themselves: a
// replica that does not hold a device's CIRA session sends each WS-Man exchange for it to the replica that does
// (the owner recorded in Postgres), which carries the raw HTTP request over its CIRA channel and returns AMT's raw
// answer together with whether the request may have reached AMT. Every dmtclient/amt operation thereby works from
// any replica without per-operation code, and the power journal's "was the request written?" survives forwarding.
package replica

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/internal/replica/pb"
	"github.com/dmrm/dm-manager/internal/southbound"
)

const (
	portHTTP  = 16992 // WS-Man over CIRA (protocol-cira-wsman §8.1)
	portHTTPS = 16993
	// maxRequestBytes bounds one forwarded request; WS-Man requests are a few KiB.
	maxRequestBytes = 1 << 20
	// defaultTimeout bounds an exchange whose caller set no deadline.
	defaultTimeout = 60 * time.Second
)

// ChannelOpener opens a channel to a device over this replica's CIRA session; (*ciragw.Gateway) implements it.
type ChannelOpener interface {
	OpenChannel(ctx context.Context, guid string, port uint16) (net.Conn, error)
}

// Server serves the replica API over a CIRA gateway.
type Server struct {
	pb.UnimplementedReplicaServer
	gw   ChannelOpener
	v    *verifier
	idle *idleChannels
	log  zerolog.Logger
}

// NewServer returns a Server relaying over gw, accepting calls signed with secret (DM_REPLICA_SECRET).
func NewServer(gw ChannelOpener, secret string, log zerolog.Logger) (*Server, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("replica: DM_REPLICA_SECRET must be at least %d characters", MinSecretLen)
	}
	return &Server{gw: gw, v: newVerifier([]byte(secret), time.Now), idle: newIdleChannels(),
		log: log.With().Str("component", "replica-api").Logger()}, nil
}

// Close closes the channels kept open between exchanges.
func (s *Server) Close() { s.idle.close() }

// GRPCServer returns a gRPC server serving the replica API: requests up to 2 MiB, and a panic in a call costs
// that call only (codes.Internal, logged, dm_manager_panics_recovered_total{component="grpc"}). opts come first
// (the mutual-TLS credentials).
func (s *Server) GRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	g := grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(2<<20),
		grpc.ChainUnaryInterceptor(southbound.RecoverUnary(s.log)),
		grpc.ChainStreamInterceptor(southbound.RecoverStream(s.log)))...)
	pb.RegisterReplicaServer(g, s)
	return g
}

// Exchange runs one WS-Man exchange over this replica's CIRA session to the device.
func (s *Server) Exchange(ctx context.Context, req *pb.ExchangeRequest) (*pb.ExchangeResponse, error) {
	guid := strings.ToLower(req.GetGuid())
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(authKey)
	if len(vals) != 1 {
		return nil, status.Error(codes.Unauthenticated, errAuth.Error())
	}
	if err := s.v.verify(vals[0], req.GetGuid(), req.GetRequest()); err != nil {
		s.log.Warn().Err(err).Str("guid", guid).Msg("refused an unauthenticated replica call")
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	if _, err := uuid.Parse(guid); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "guid %q is not a UUID", req.GetGuid())
	}
	port := req.GetPort()
	if port == 0 {
		port = portHTTP
	}
	if port != portHTTP && port != portHTTPS {
		return nil, status.Errorf(codes.InvalidArgument, "port %d: only AMT's WS-Man ports 16992 and 16993 are relayed", port)
	}
	if n := len(req.GetRequest()); n == 0 || n > maxRequestBytes {
		return nil, status.Errorf(codes.InvalidArgument, "request of %d bytes: must be 1 to %d bytes", n, maxRequestBytes)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultTimeout)
		defer cancel()
	}
	return s.exchange(ctx, guid, uint16(port), req.GetRequest()), nil
}

// exchange carries the request over the channel kept from the previous exchange with the device, or a new one.
// A kept channel the device has closed meanwhile takes no byte of the request (wsman.NotWritten): the request then
// goes over a new channel, which cannot repeat it.
func (s *Server) exchange(ctx context.Context, guid string, port uint16, request []byte) *pb.ExchangeResponse {
	k := channelKey{guid: guid, port: port}
	if conn := s.idle.take(k); conn != nil {
		if resp, written := s.roundTrip(ctx, k, conn, request); written || ctx.Err() != nil {
			return resp
		}
	}
	conn, err := s.gw.OpenChannel(ctx, guid, port)
	if err != nil {
		return failure(wsman.NotWritten, err)
	}
	resp, _ := s.roundTrip(ctx, k, conn, request)
	return resp
}

// roundTrip runs the exchange on conn; written is false when no byte of the request was written. conn is kept for
// the next exchange when HTTP keep-alive allows (and the call was not cancelled meanwhile), closed otherwise.
func (s *Server) roundTrip(ctx context.Context, k channelKey, conn net.Conn, request []byte) (_ *pb.ExchangeResponse, written bool) {
	raw, err := wsman.ExchangeRaw(ctx, conn, request, wsman.DefaultMaxResponseBytes)
	if err != nil {
		_ = conn.Close()
		w := wsman.WrittenOf(err)
		return failure(w, err), w != wsman.NotWritten
	}
	if ctx.Err() == nil && keepAlive(request, raw) {
		_ = conn.SetDeadline(time.Time{})
		s.idle.put(k, conn)
	} else {
		_ = conn.Close()
	}
	return &pb.ExchangeResponse{Outcome: pb.Outcome_OUTCOME_DONE, Response: raw}, true
}

func failure(w wsman.Written, err error) *pb.ExchangeResponse {
	return &pb.ExchangeResponse{Outcome: outcomeOf(w), Error: err.Error(), NoSession: noSession(err)}
}

// outcomeOf and writtenOf are the wire form of wsman's write outcome: the owner's fact crosses unchanged.
func outcomeOf(w wsman.Written) pb.Outcome {
	if w == wsman.NotWritten {
		return pb.Outcome_OUTCOME_NOT_SENT
	}
	return pb.Outcome_OUTCOME_POSSIBLY_SENT
}

func writtenOf(o pb.Outcome) wsman.Written {
	switch o {
	case pb.Outcome_OUTCOME_DONE:
		return 0
	case pb.Outcome_OUTCOME_NOT_SENT:
		return wsman.NotWritten
	}
	return wsman.PossiblyWritten
}

func noSession(err error) bool {
	return errors.Is(err, ciragw.ErrDeviceNotConnected) || errors.Is(err, ciragw.ErrSessionClosed)
}
