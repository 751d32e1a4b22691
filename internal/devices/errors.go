package devices

import (
	"errors"
	"fmt"

	"github.com/dmrm/dm-manager/ciragw"
)

var (
	// ErrAuthFailed is every refused CIRA login: unknown device, wrong username or wrong password look the same,
	// so neither the device nor a log reader learns which part was wrong. It wraps ciragw.ErrBadCredentials so
	// the gateway counts it against the login rate limits.
	ErrAuthFailed = fmt.Errorf("devices: CIRA login refused: %w", ciragw.ErrBadCredentials)

	// ErrNotFound: the device is not recorded for this tenant (a device of another tenant looks the same).
	ErrNotFound = errors.New("devices: device not found in this tenant")

	// ErrNotConnected: the device has no CIRA session on this replica. *NotConnectedError says where it is.
	// Returned only where the request provably never reached AMT; whether a request did is wsman.WrittenOf's.
	ErrNotConnected = errors.New("devices: device is not connected over CIRA")

	// ErrNoCredentials: the device is recorded but its AMT password is missing from the secrets store; it has to
	// be activated again or imported with its credentials (`dm-manager devices import`).
	ErrNoCredentials = errors.New("devices: no AMT credentials stored for the device")

	// ErrImportRejected: the import file has errors (Report.Errors); nothing was imported.
	ErrImportRejected = errors.New("devices: import rejected, nothing imported")
)

// NotConnectedError is ErrNotConnected with what the store knows: a device connected to another replica names it,
// so the caller can forward the work there (architecture.md "Scale-out").
type NotConnectedError struct {
	GUID         string
	OwnerReplica string // non-empty when another replica holds the session
	OwnerAddress string
	Err          error // the gateway's error, when it answered
}

func (e *NotConnectedError) Error() string {
	msg := "devices: device " + e.GUID + " is not connected over CIRA to this replica"
	if e.OwnerReplica != "" {
		msg += "; replica " + e.OwnerReplica + " (" + e.OwnerAddress + ") holds its session"
	} else {
		msg += "; AMT reconnects on its own schedule, check its CIRA configuration if it never does"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is makes errors.Is(err, ErrNotConnected) true.
func (e *NotConnectedError) Is(target error) bool { return target == ErrNotConnected }

func (e *NotConnectedError) Unwrap() error { return e.Err }
