package rps

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/internal/secrets"
)

// refusal is a pre-flight failure: nothing was sent to AMT. Its text goes to rpc-go as plain text, as RPS sends
// validation errors (§1.7).
type refusal struct{ text string }

func (e *refusal) Error() string { return e.text }

func refuse(format string, args ...any) error { return &refusal{fmt.Sprintf(format, args...)} }

// failure is a flow failure after the first WS-Man request; rpc-go gets the status JSON with Status = text (§1.7).
// cause is for logs and the outcome; text already says what the user can do.
type failure struct {
	text  string
	cause error
}

func (e *failure) Error() string { return e.text }
func (e *failure) Unwrap() error { return e.cause }

// fail wraps cause under a reference text (§4.1), adding why it happened; refusals and failures pass through
// unchanged, so the innermost text wins.
func fail(text string, cause error) error {
	var r *refusal
	var f *failure
	if errors.As(cause, &r) || errors.As(cause, &f) {
		return cause
	}
	if cause == nil {
		return &failure{text: text}
	}
	return &failure{text: text + " (" + explain(cause) + ")", cause: cause}
}

// Session-level causes, set as the cancellation cause of the flow context.
var (
	errPeerClosed     = errors.New("rpc-go closed the websocket before the operation finished")
	errFrameTooLarge  = fmt.Errorf("rpc-go sent a message larger than %d bytes; the session was stopped", MaxMessageBytes)
	errBinaryFrame    = errors.New("rpc-go sent a binary websocket frame; the protocol uses text frames only")
	errShuttingDown   = errors.New("dm-manager is shutting down; run the operation again")
	errNoFirstMessage = errors.New("no command received from rpc-go after the websocket opened")
)

// sessionTimeoutError is the cause when the overall deadline passes.
type sessionTimeoutError struct{ d time.Duration }

func (e *sessionTimeoutError) Error() string {
	return fmt.Sprintf("the operation did not finish within %s; check the device's network and run it again", e.d)
}

// stepTimeoutError is the cause when one step takes too long (AMT or rpc-go silent).
type stepTimeoutError struct {
	step string
	d    time.Duration
}

func (e *stepTimeoutError) Error() string {
	return fmt.Sprintf("no answer from AMT within %s during %s; check that LMS runs on the host and AMT is enabled",
		e.d, e.step)
}

// explain turns an error into a short reason without secrets: wsman errors carry AMT's return codes and faults,
// context errors are replaced by their cause.
func explain(err error) string {
	var rv *wsman.ReturnValueError
	var fault *wsman.FaultError
	switch {
	case errors.As(err, &rv):
		return rv.Error()
	case errors.As(err, &fault):
		return fault.Error()
	case errors.Is(err, wsman.ErrAuthFailed):
		return wsman.ErrAuthFailed.Error()
	case wsman.Dropped(err):
		// Over the TLS tunnel a Get was already tried again (connectTLS); anything else may have been acted on.
		return err.Error() + "; the connection to AMT was reset after the request was sent, so AMT may have " +
			"received it and it was not sent again"
	}
	return err.Error()
}

// causeOf replaces a context error by the reason the context ended.
func causeOf(ctx context.Context, err error) error {
	if ctx.Err() == nil || !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) && !errors.Is(c, context.DeadlineExceeded) {
		return c
	}
	return err
}

// textSecretsUnavailable answers rpc-go when the secret store cannot be reached: its address and the secret paths
// stay in dm-manager's log.
const textSecretsUnavailable = "dm-manager cannot reach its secret store right now; run the activation again " +
	"later (the details are in dm-manager's log)"

// public is err's text for rpc-go and the outcome event.
func public(err error) string {
	if errors.Is(err, secrets.ErrUnavailable) {
		return textSecretsUnavailable
	}
	return err.Error()
}
