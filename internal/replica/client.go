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

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/internal/replica/pb"
)

// ErrMoved: the replica recorded as owner holds no session for the device any more; the request was not written
// (wsman.NotWritten), so it may go to whichever replica holds the session now.
var ErrMoved = errors.New("replica: device moved to another replica; retry")

// MovedError is ErrMoved for one device.
type MovedError struct {
	GUID, Address string
}

func (e *MovedError) Error() string {
	return "device " + e.GUID + " moved to another replica (no longer on " + e.Address + "); retry"
}

// Is makes errors.Is(err, ErrMoved) true.
func (e *MovedError) Is(target error) bool { return target == ErrMoved }

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
// answer. A failure is a *wsman.ExchangeError carrying the owner's write outcome as it decided it (wsman.WrittenOf),
// or one decided here: a call that was never made (replica unreachable, call refused) is NotWritten, a call cut off
// is PossiblyWritten. A replica that holds no session for the device gives *MovedError (NotWritten); a session
// that ended there after the request was written wraps ciragw.ErrSessionClosed.
func (c *Client) Exchange(ctx context.Context, address, guid string, request []byte) ([]byte, error) {
	guid = strings.ToLower(guid)
	cc, err := c.conn(address)
	if err != nil {
		return nil, &wsman.ExchangeError{Written: wsman.NotWritten, Err: err}
	}
	if !ready(ctx, cc) {
		return nil, &wsman.ExchangeError{Written: wsman.NotWritten,
			Err: fmt.Errorf("replica: replica %s cannot be reached (%s)", address, cc.GetState())}
	}
	ctx = metadata.AppendToOutgoingContext(ctx, authKey, sign(c.secret, time.Now(), guid, request))
	resp, err := pb.NewReplicaClient(cc).Exchange(ctx, &pb.ExchangeRequest{Guid: guid, Request: request})
	if err != nil {
		return nil, callError(ctx, address, err)
	}
	written := writtenOf(resp.GetOutcome())
	switch {
	case written == 0:
		return resp.GetResponse(), nil
	case written == wsman.NotWritten && resp.GetNoSession():
		err = &MovedError{GUID: guid, Address: address}
	case resp.GetNoSession():
		err = fmt.Errorf("replica: the CIRA session on replica %s ended before AMT answered: %s: %w",
			address, resp.GetError(), ciragw.ErrSessionClosed)
	case callerDeadline(ctx) != nil:
		err = fmt.Errorf("replica %s: %s: %w", address, resp.GetError(), callerDeadline(ctx))
	default:
		err = fmt.Errorf("replica %s: %s", address, resp.GetError())
	}
	return nil, &wsman.ExchangeError{Written: written, Err: err}
}

// deadlineSlack: the owner enforces the caller's propagated deadline on its own clock and may end the call a moment
// before the caller's context expires; a failure that close to the deadline is reported as the caller's deadline.
const deadlineSlack = 50 * time.Millisecond

// callerDeadline is ctx's error, or DeadlineExceeded when ctx's deadline is less than deadlineSlack away.
func callerDeadline(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < deadlineSlack {
		return context.DeadlineExceeded
	}
	return nil
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

// callError classifies a failed call. Refusals the server makes before touching the device are NotWritten; a
// transport failure is PossiblyWritten, since gRPC cannot tell whether the server had started the exchange.
func callError(ctx context.Context, address string, err error) error {
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.Unauthenticated, codes.InvalidArgument, codes.Unimplemented:
		return &wsman.ExchangeError{Written: wsman.NotWritten,
			Err: fmt.Errorf("replica: replica %s refused the call: %s", address, st.Message())}
	}
	if cerr := callerDeadline(ctx); cerr != nil {
		return &wsman.ExchangeError{Written: wsman.PossiblyWritten, Err: fmt.Errorf("replica %s: %w", address, cerr)}
	}
	return &wsman.ExchangeError{Written: wsman.PossiblyWritten,
		Err: fmt.Errorf("replica: calling replica %s: %s", address, st.Message())}
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
