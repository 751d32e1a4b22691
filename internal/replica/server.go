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

// Register adds the service to srv.
func (s *Server) Register(srv *grpc.Server) { pb.RegisterReplicaServer(srv, s) }

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
// A kept channel the device has closed meanwhile takes no byte of the request (the write fails before sending
// anything): the request then goes over a new channel, which cannot repeat it.
func (s *Server) exchange(ctx context.Context, guid string, port uint16, request []byte) *pb.ExchangeResponse {
	k := channelKey{guid: guid, port: port}
	if conn := s.idle.take(k); conn != nil {
		if resp, sent := s.roundTrip(ctx, k, conn, request); sent || ctx.Err() != nil {
			return resp
		}
	}
	conn, err := s.gw.OpenChannel(ctx, guid, port)
	if err != nil {
		return notSent(err)
	}
	resp, _ := s.roundTrip(ctx, k, conn, request)
	return resp
}

// roundTrip writes the request on conn and reads AMT's answer; sent is false when no byte was written. conn is
// kept for the next exchange when HTTP keep-alive allows, closed otherwise.
func (s *Server) roundTrip(ctx context.Context, k channelKey, conn net.Conn, request []byte) (_ *pb.ExchangeResponse, sent bool) {
	keep := false
	defer func() {
		if !keep {
			_ = conn.Close()
		}
	}()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	n, err := conn.Write(request)
	switch {
	case err != nil && n == 0:
		stop()
		return notSent(err), false
	case err != nil:
		stop()
		return possiblySent(fmt.Errorf("writing the request: %w", err)), true
	}
	raw, _, err := wsman.ReadRawResponse(conn, wsman.DefaultMaxResponseBytes)
	if !stop() || err != nil {
		if err == nil {
			err = ctx.Err()
		}
		return possiblySent(fmt.Errorf("reading AMT's answer: %w", err)), true
	}
	if keep = keepAlive(request, raw); keep {
		_ = conn.SetDeadline(time.Time{})
		s.idle.put(k, conn)
	}
	return &pb.ExchangeResponse{Outcome: pb.Outcome_OUTCOME_DONE, Response: raw}, true
}

func notSent(err error) *pb.ExchangeResponse {
	return &pb.ExchangeResponse{Outcome: pb.Outcome_OUTCOME_NOT_SENT, Error: err.Error(), NoSession: noSession(err)}
}

func possiblySent(err error) *pb.ExchangeResponse {
	return &pb.ExchangeResponse{Outcome: pb.Outcome_OUTCOME_POSSIBLY_SENT, Error: err.Error(), NoSession: noSession(err)}
}

func noSession(err error) bool {
	return errors.Is(err, ciragw.ErrDeviceNotConnected) || errors.Is(err, ciragw.ErrSessionClosed)
}
