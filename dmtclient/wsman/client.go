package wsman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Dialer opens a fresh connection to port 16992 of one device: an APF channel over CIRA, a relayed exchange over
// the rpc-go websocket, or TCP. Every call must return a new connection.
type Dialer interface {
	Dial(ctx context.Context) (net.Conn, error)
}

// DialerFunc adapts a function to Dialer.
type DialerFunc func(ctx context.Context) (net.Conn, error)

// Dial calls f.
func (f DialerFunc) Dial(ctx context.Context) (net.Conn, error) { return f(ctx) }

// Config configures a Client for one device.
type Config struct {
	Dialer   Dialer
	Host     string // Host header, "<lower-case-guid>:16992" over CIRA (§8.1), "127.0.0.1:16992" locally
	Username string // digest user: "admin" once activated, the LSA user during pre-provisioning
	Password string
	// FallbackPassword, when set, is tried when AMT refuses Password: the password AMT had before a change of it
	// whose outcome was lost. Whichever AMT accepts is used from then on (CurrentPassword).
	FallbackPassword string
	// DisableKeepAlive sends `Connection: close` and uses each connection for one exchange (rpc-go relay, §1.6).
	DisableKeepAlive bool
	// Timeout bounds one HTTP exchange when the context has no earlier deadline; default 60 s.
	Timeout time.Duration
	// MaxResponseBytes bounds a response body; default DefaultMaxResponseBytes (8 MiB).
	MaxResponseBytes int
	// Observe, when set, is told how long each Do took (the exchange with its digest retry), success or not.
	Observe func(time.Duration)
	// RetryNewConnections retries an exchange whose new connection dropped as a reused one's is (see exchange):
	// for transports that reset a fresh connection mid-exchange, like rpc-go's TLS tunnel (§1.9), where LMS or AMT
	// may close the socket at any time.
	RetryNewConnections bool
}

// maxAuthTries is how many authenticated requests AMT may reject before we give up (§8.3, §2.14).
const maxAuthTries = 3

// Client sends WS-Man requests to one device. It is safe for concurrent use; exchanges are serialised, because a
// device connection carries one request at a time and the digest state (nonce, nc) is shared.
type Client struct {
	cfg Config

	mu       sync.Mutex
	conn     net.Conn // idle keep-alive connection, nil when none
	chal     *challenge
	nc       uint32
	nextID   uint64
	user     string
	password string
	fallback string // the other password to try when AMT refuses password
	cnonce   func() string
}

// New validates cfg and returns a Client. No connection is opened until the first request.
func New(cfg Config) (*Client, error) {
	if cfg.Dialer == nil {
		return nil, errors.New("wsman: Config.Dialer is required")
	}
	if cfg.Host == "" {
		return nil, errors.New("wsman: Config.Host is required (e.g. <guid>:16992)")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	return &Client{
		cfg: cfg, user: cfg.Username, password: cfg.Password, fallback: cfg.FallbackPassword, cnonce: randomCnonce,
	}, nil
}

// SetCredentials switches the digest credentials, e.g. from the LSA user to admin after activation. The cached
// challenge stays valid: it belongs to the device, not to the user.
func (c *Client) SetCredentials(username, password string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.user, c.password, c.fallback = username, password, ""
}

// CurrentPassword is the digest password in use: Password, or FallbackPassword once AMT refused Password.
func (c *Client) CurrentPassword() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.password
}

// Close closes the idle connection, if any.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropConn()
}

// Do sends one request and decodes the answer. A SOAP fault comes back as *FaultError, repeated 401s as
// *AuthError (errors.Is ErrAuthFailed), other statuses as *HTTPStatusError, malformed input as *ProtocolError; an
// exchange without an answer is an *ExchangeError saying whether the request may have reached AMT (WrittenOf).
func (c *Client) Do(ctx context.Context, req *Request) (*Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg.Observe != nil {
		defer func(start time.Time) { c.cfg.Observe(time.Since(start)) }(time.Now())
	}
	c.nextID++
	id := c.nextID
	envelope := req.Encode(id)
	// The request buffer is pooled, not kept per client: a fleet holds one idle Client per device.
	wbuf := requestBufs.Get().(*[]byte)
	defer putRequestBuf(wbuf)
	authTries := 0
	for {
		auth := ""
		if c.chal != nil && c.user != "" {
			c.nc++
			auth = c.chal.authorization(c.user, c.password, c.nc, c.cnonce())
			authTries++
		}
		*wbuf = appendRequest((*wbuf)[:0], c.cfg.Host, auth, envelope, c.cfg.DisableKeepAlive)
		resp, err := c.exchange(ctx, *wbuf, idempotent(req.Action))
		if err != nil {
			return nil, opErr(req, err)
		}
		if resp.StatusCode != 401 {
			r, err := decodeHTTP(resp, id)
			if err != nil {
				return r, opErr(req, err)
			}
			return r, nil
		}
		// A 401 closes the connection on AMT (§8.2); the retry goes over a fresh one in any case.
		_ = c.dropConn()
		ch, err := parseChallenge(resp.header("www-authenticate"))
		if err != nil {
			return nil, opErr(req, err)
		}
		if c.chal == nil || c.chal.Nonce != ch.Nonce {
			c.nc = 0 // nc counts requests per nonce (RFC 2617 §3.2.2)
		}
		// A 401 to an authenticated request, unless it says the nonce went stale, refuses the password: the next
		// try uses the other one. They alternate rather than the first being dropped, so that a firmware calling
		// an expired nonce not stale costs a try, not the right password. A 401 never carries out the request,
		// so a try cannot repeat an action.
		if auth != "" && !strings.EqualFold(ch.Stale, "true") && c.fallback != "" {
			c.password, c.fallback = c.fallback, c.password
		}
		c.chal = &ch
		if c.user == "" || authTries >= maxAuthTries {
			return nil, &AuthError{Username: c.user, Realm: ch.Realm, Attempts: authTries}
		}
	}
}

// requestBufs holds request buffers between exchanges. Every Dialer's connection is done with the bytes when its
// Write returns (TCP, APF channel, relay), so a buffer goes back once Do is done.
var requestBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2<<10); return &b }}

// maxPooledRequest keeps a rare large request (a certificate upload) from staying in the pool.
const maxPooledRequest = 64 << 10

func putRequestBuf(b *[]byte) {
	if cap(*b) <= maxPooledRequest {
		requestBufs.Put(b)
	}
}

// opErr names the operation in an error ("Get AMT_GeneralSettings: …"); AuthError is never wrapped because its
// text is fixed.
func opErr(req *Request, err error) error {
	return fmt.Errorf("%s %s: %w", ClassOf(req.Action), ClassOf(req.ResourceURI), err)
}

// decodeHTTP turns a non-401 HTTP response into a Response or a typed error.
func decodeHTTP(resp *httpResponse, id uint64) (*Response, error) {
	if resp.StatusCode != 200 {
		// AMT reports most failures as a SOAP fault with status 400 (§8.2).
		if r, err := parseEnvelope(resp.Body); r != nil && err != nil {
			return nil, err
		}
		return nil, &HTTPStatusError{StatusCode: resp.StatusCode, Reason: resp.Reason}
	}
	r, err := parseEnvelope(resp.Body)
	if err != nil {
		return nil, err
	}
	if want := strconv.FormatUint(id, 10); r.RelatesTo != "" && r.RelatesTo != want {
		return nil, soapErr("RelatesTo %q does not match MessageID %s", r.RelatesTo, want)
	}
	return r, nil
}

// exchange writes one request and reads its response over the idle connection or a new one. A reused connection
// (any connection with RetryNewConnections) is retried once over a fresh one only where the retry cannot repeat an
// action AMT may have carried out: the request was not completely written (AMT acts on a complete HTTP request
// only) and the connection was found closed, or the connection ended before the whole answer and the request is
// idempotent. A non-idempotent request (Invoke, Put, Delete, Pull) that was completely written is never sent
// again, as net/http does. A failure is an *ExchangeError whose write outcome is that of the first attempt that may
// have reached AMT, so a retry that could not even connect never turns "possibly written" into "not written".
func (c *Client) exchange(ctx context.Context, request []byte, idempotent bool) (*httpResponse, error) {
	var first error // failure of an attempt that may have reached AMT
	for attempt := 0; ; attempt++ {
		conn, reused, err := c.connection(ctx)
		if err != nil {
			return nil, afterWritten(first, failed(0, err, err))
		}
		resp, wrote, err := roundTrip(ctx, conn, request, c.cfg.Timeout, c.cfg.MaxResponseBytes, nil)
		if err == nil {
			if resp.Close || c.cfg.DisableKeepAlive {
				_ = c.dropConn()
			}
			return resp, nil
		}
		_ = c.dropConn()
		shown := c.ioError(ctx, err)
		whole := wrote == len(request)
		retry := (reused || c.cfg.RetryNewConnections) && attempt == 0 && ctx.Err() == nil &&
			(!whole && isClosed(shown) || whole && idempotent && Dropped(shown))
		err = failed(wrote, err, shown)
		if !retry {
			return nil, afterWritten(first, err)
		}
		if WrittenOf(err) == PossiblyWritten {
			first = err
		}
	}
}

// ioError names a failed round trip's cause: the context's own error, or AMT's silence within the timeout.
func (c *Client) ioError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		// The connection deadline may fire a moment before the context notices its own.
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			return context.DeadlineExceeded
		}
		return fmt.Errorf("no response from AMT within %s: %w", c.cfg.Timeout, err)
	}
	return err
}

// afterWritten returns err, or, when an earlier attempt may have reached AMT (first), that attempt's error and
// outcome with err's text only.
func afterWritten(first, err error) error {
	if first == nil {
		return err
	}
	return fmt.Errorf("%w (retry over a new connection: %v)", first, err)
}

// Dropped reports whether err is a connection that ended after the whole request was written and before AMT's
// whole answer arrived: AMT may have received the request and acted on it.
func Dropped(err error) bool { return errors.Is(err, errNoResponse) || errors.Is(err, errCutShort) }

// idempotent reports whether a request may be sent twice without a second effect on the device: Get reads, and
// a duplicate Enumerate only leaves an unused enumeration context for AMT to expire. Pull is not: it moves the
// enumeration on, so a repeat would skip the items of a lost answer.
func idempotent(action string) bool {
	return action == ActionGet || action == ActionEnumerate
}

func (c *Client) connection(ctx context.Context) (net.Conn, bool, error) {
	if c.conn != nil {
		return c.conn, true, nil
	}
	conn, err := c.cfg.Dialer.Dial(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("connect to AMT: %w", err)
	}
	c.conn = conn
	return conn, false, nil
}

func (c *Client) dropConn() error {
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}

func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe) || isConnReset(err)
}

// isConnReset reports a peer reset or broken pipe: the device dropped a kept-alive connection.
func isConnReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
