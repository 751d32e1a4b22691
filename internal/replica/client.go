package replica

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/dmrm/dm-manager/internal/replica/pb"
)

var (
	// ErrNotSent: the owner did not write the request to the device (no session there, channel refused, call
	// refused): sending it again, to whichever replica holds the session now, cannot repeat an action.
	ErrNotSent = errors.New("replica: request not sent to the device")
	// ErrMoved (also ErrNotSent): the replica recorded as owner holds no session for the device any more.
	ErrMoved = errors.New("replica: device moved to another replica; retry")
	// ErrPossiblySent: the request may have reached AMT but no complete answer came back; never send it again.
	ErrPossiblySent = errors.New("replica: request may have reached the device; outcome unknown")
)

// MovedError is ErrMoved for one device.
type MovedError struct {
	GUID, Address string
}

func (e *MovedError) Error() string {
	return "device " + e.GUID + " moved to another replica (no longer on " + e.Address + "); retry"
}

// Is makes errors.Is(err, ErrMoved) and errors.Is(err, ErrNotSent) true.
func (e *MovedError) Is(target error) bool { return target == ErrMoved || target == ErrNotSent }

// Client calls other replicas. One gRPC connection is kept per address.
type Client struct {
	secret []byte
	creds  credentials.TransportCredentials

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

// NewClient returns a Client signing its calls with secret (DM_REPLICA_SECRET), over TLS when tlsConf is set
// (TLSFiles.Load), in plain text otherwise.
func NewClient(secret string, tlsConf *tls.Config) (*Client, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("replica: DM_REPLICA_SECRET must be at least %d characters", MinSecretLen)
	}
	creds := insecure.NewCredentials()
	if tlsConf != nil {
		creds = credentials.NewTLS(tlsConf)
	}
	return &Client{secret: []byte(secret), creds: creds, conns: make(map[string]*grpc.ClientConn)}, nil
}

func (c *Client) conn(address string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cc, ok := c.conns[address]; ok {
		return cc, nil
	}
	cc, err := grpc.NewClient(address, grpc.WithTransportCredentials(c.creds))
	if err != nil {
		return nil, fmt.Errorf("replica: address %q: %w", address, err)
	}
	c.conns[address] = cc
	return cc, nil
}

// Exchange sends one raw WS-Man HTTP request for the device to the replica at address and returns AMT's raw
// answer. Errors: *MovedError (the replica holds no session for the device; not sent), ErrNotSent, ErrPossiblySent,
// or the context's error; any other failure of the call itself (replica unreachable, call cut off) is
// ErrPossiblySent unless the replica provably refused it before doing anything.
func (c *Client) Exchange(ctx context.Context, address, guid string, request []byte) ([]byte, error) {
	guid = strings.ToLower(guid)
	cc, err := c.conn(address)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	if !ready(ctx, cc) {
		return nil, fmt.Errorf("%w: replica %s cannot be reached (%s)", ErrNotSent, address, cc.GetState())
	}
	ctx = metadata.AppendToOutgoingContext(ctx, authKey, sign(c.secret, time.Now(), guid, request))
	resp, err := pb.NewReplicaClient(cc).Exchange(ctx, &pb.ExchangeRequest{Guid: guid, Request: request})
	if err != nil {
		return nil, callError(ctx, address, err)
	}
	switch resp.GetOutcome() {
	case pb.Outcome_OUTCOME_DONE:
		return resp.GetResponse(), nil
	case pb.Outcome_OUTCOME_NOT_SENT:
		if resp.GetNoSession() {
			return nil, &MovedError{GUID: guid, Address: address}
		}
		return nil, fmt.Errorf("%w (replica %s): %s", ErrNotSent, address, resp.GetError())
	default:
		if resp.GetNoSession() {
			return nil, fmt.Errorf("%w: the CIRA session on replica %s ended before AMT answered: %s", ErrPossiblySent, address, resp.GetError())
		}
		return nil, fmt.Errorf("%w (replica %s): %s", ErrPossiblySent, address, resp.GetError())
	}
}

// connectWait bounds the wait for a connection to a replica before the call is given up as not sent.
const connectWait = 3 * time.Second

// ready waits until cc is connected, or it failed to connect, or connectWait passed. The call is made only on a
// connected channel, so a replica that is down (killed, not yet started) gives "not sent", which the caller may
// safely send again elsewhere, rather than an outcome gRPC cannot tell.
func ready(ctx context.Context, cc *grpc.ClientConn) bool {
	ctx, cancel := context.WithTimeout(ctx, connectWait)
	defer cancel()
	for {
		switch s := cc.GetState(); s {
		case connectivity.Ready:
			return true
		case connectivity.TransientFailure, connectivity.Shutdown:
			return false
		case connectivity.Idle:
			cc.Connect()
			fallthrough
		default:
			if !cc.WaitForStateChange(ctx, s) {
				return false
			}
		}
	}
}

// callError classifies a failed call. Refusals the server makes before touching the device are "not sent"; a
// transport failure is "possibly sent", since gRPC cannot tell whether the server had started the exchange.
func callError(ctx context.Context, address string, err error) error {
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.Unauthenticated, codes.InvalidArgument, codes.Unimplemented:
		return fmt.Errorf("%w: replica %s refused the call: %s", ErrNotSent, address, st.Message())
	case codes.DeadlineExceeded, codes.Canceled:
		if ctx.Err() != nil {
			return fmt.Errorf("%w: replica %s: %w", ErrPossiblySent, address, ctx.Err())
		}
	}
	return fmt.Errorf("%w: calling replica %s: %s", ErrPossiblySent, address, st.Message())
}

// Close closes every connection.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for a, cc := range c.conns {
		_ = cc.Close()
		delete(c.conns, a)
	}
}
