package wsman

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrAuthFailed is matched (errors.Is) by every digest authentication failure. Its text is the one RPS reports to
// rpc-go and users already know (protocol-rps-activation §2.14).
var ErrAuthFailed = errors.New("Unable to authenticate with AMT") //nolint:staticcheck // wire-visible text

// AuthError reports that AMT kept answering 401. Its message is exactly ErrAuthFailed's; the fields carry the
// context (never the password).
type AuthError struct {
	Username string
	Realm    string
	Attempts int // authenticated requests that AMT rejected
}

func (e *AuthError) Error() string { return ErrAuthFailed.Error() }
func (e *AuthError) Unwrap() error { return ErrAuthFailed }

// FaultError is a SOAP fault returned by AMT (§9.2). Code and Subcode are QName values without their prefix,
// e.g. Code "Sender", Subcode "DestinationUnreachable".
type FaultError struct {
	Code    string
	Subcode string
	Reason  string
	Detail  string
}

func (e *FaultError) Error() string {
	msg := "AMT returned SOAP fault " + e.Code
	if e.Subcode != "" {
		msg += "/" + e.Subcode
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

// ReturnValueError is a method call that AMT answered with a non-zero ReturnValue. Method is "Class.Method"; Name
// is the label from the matching code table (§10.4), "UNKNOWN_ERROR" when the value is not in it.
type ReturnValueError struct {
	Method string
	Value  uint32
	Name   string
}

func (e *ReturnValueError) Error() string {
	return fmt.Sprintf("%s failed: ReturnValue %d (%s)", e.Method, e.Value, e.Name)
}

// HTTPStatusError is a response status other than 200/401 that carried no SOAP fault.
type HTTPStatusError struct {
	StatusCode int
	Reason     string
}

func (e *HTTPStatusError) Error() string {
	return "AMT answered HTTP " + strconv.Itoa(e.StatusCode) + " " + e.Reason
}

// ProtocolError is malformed input from the device side: bad HTTP framing, a broken envelope, an unusable digest
// challenge. Layer is "http", "soap" or "digest".
type ProtocolError struct {
	Layer string
	Msg   string
}

func (e *ProtocolError) Error() string { return "wsman " + e.Layer + ": " + e.Msg }

// ErrResponseTooLarge is returned when a response exceeds Config.MaxResponseBytes.
var ErrResponseTooLarge = &ProtocolError{Layer: "http", Msg: "response body exceeds the size limit"}

func httpErr(format string, args ...any) error {
	return &ProtocolError{Layer: "http", Msg: fmt.Sprintf(format, args...)}
}

func soapErr(format string, args ...any) error {
	return &ProtocolError{Layer: "soap", Msg: fmt.Sprintf(format, args...)}
}

// truncate shortens device input quoted in an error.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
