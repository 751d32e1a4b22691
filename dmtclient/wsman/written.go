package wsman

import "errors"

// Written is what is known about whether a failed exchange's request reached the device. It is decided once, where
// the request is written to the connection (roundTrip, or the relay that carried it for us), and carried up
// unchanged: the power journal relies on it never to send a hard action twice (architecture.md, Main flows 4).
type Written uint8

const (
	// NotWritten: no byte of the request was accepted by the connection (or none was opened). AMT cannot have acted
	// on it; sending it again cannot repeat an action.
	NotWritten Written = iota + 1
	// PossiblyWritten: the request, or part of it, was written and no complete answer came back. AMT may have
	// acted on it; never send it again.
	PossiblyWritten
)

func (w Written) String() string {
	switch w {
	case NotWritten:
		return "not written"
	case PossiblyWritten:
		return "possibly written"
	}
	return "no write outcome"
}

// ExchangeError is an exchange that failed without an answer from AMT, with what is known of its request. Its
// text is Err's.
type ExchangeError struct {
	Written Written
	Err     error
}

func (e *ExchangeError) Error() string { return e.Err.Error() }
func (e *ExchangeError) Unwrap() error { return e.Err }

// WrittenOf reports the write outcome carried by err, or 0 when it carries none: nil, or an answer from AMT
// (*FaultError, *ReturnValueError, *HTTPStatusError, *AuthError), which proves the request arrived.
func WrittenOf(err error) Written {
	var e *ExchangeError
	if errors.As(err, &e) {
		return e.Written
	}
	return 0
}

// failed makes the one write outcome of a failed exchange: the outcome of a relay that carried the request (err
// already holds one) is kept; otherwise it follows from how many bytes of the request the connection accepted.
// shown is the error to report (err, or the context's error that caused it).
func failed(wrote int, err, shown error) error {
	w := WrittenOf(err)
	switch {
	case w != 0:
	case wrote > 0:
		w = PossiblyWritten
	default:
		w = NotWritten
	}
	return &ExchangeError{Written: w, Err: shown}
}
