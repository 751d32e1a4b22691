package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/dmrm/dm-manager/internal/store"
)

// MPS's answer for a device without a live CIRA session (protocol-cira-wsman §11.1). It is also the answer for
// a device that is unknown or belongs to another project, so the two cannot be told apart.
const notConnectedText = "Device not found/connected. Please connect again using CIRA."

// deviceJSON is MPS's device record (protocol-cira-wsman §11.3).
type deviceJSON struct {
	GUID             string         `json:"guid"`
	Hostname         string         `json:"hostname"`
	Tags             []string       `json:"tags"`
	MPSInstance      string         `json:"mpsInstance"`
	ConnectionStatus bool           `json:"connectionStatus"`
	MPSUsername      string         `json:"mpsusername"`
	TenantID         string         `json:"tenantId"`
	FriendlyName     string         `json:"friendlyName"`
	DNSSuffix        string         `json:"dnsSuffix"`
	LastConnected    *time.Time     `json:"lastConnected"`
	LastSeen         *time.Time     `json:"lastSeen"`
	LastDisconnected *time.Time     `json:"lastDisconnected"`
	DeviceInfo       deviceInfoJSON `json:"deviceInfo"`
}

// deviceInfoJSON is what RPS writes into deviceInfo; MPS keeps every value as a string.
type deviceInfoJSON struct {
	FWVersion   string    `json:"fwVersion"`
	FWBuild     string    `json:"fwBuild"`
	FWSku       string    `json:"fwSku"`
	CurrentMode string    `json:"currentMode"`
	Features    string    `json:"features"`
	LastUpdated time.Time `json:"lastUpdated"`
}

func renderDevice(d store.Device) deviceJSON {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		u := t.UTC()
		return &u
	}
	// Facts are the cached AMT information; these keys, recorded by the activation (name, host name, SKU text),
	// fill MPS's fields. MPS's ipAddress is not served: nothing here records the device's address.
	var facts struct {
		Features     string `json:"features"`
		FriendlyName string `json:"friendlyName"`
		Hostname     string `json:"hostname"`
	}
	_ = json.Unmarshal(d.Facts, &facts) // best effort: facts of another shape leave the fields empty
	return deviceJSON{
		GUID: d.GUID, Tags: []string{}, MPSInstance: d.OwnerReplica,
		ConnectionStatus: d.ConnectionState == store.ConnectionConnected, MPSUsername: d.CIRAUsername,
		TenantID: d.TenantID, DNSSuffix: d.DNSSuffix, FriendlyName: facts.FriendlyName, Hostname: facts.Hostname,
		LastConnected: opt(d.ConnectedAt), LastSeen: opt(d.LastSeenAt), LastDisconnected: opt(d.DisconnectedAt),
		DeviceInfo: deviceInfoJSON{
			FWVersion: d.AMTVersion, FWBuild: d.AMTBuild, FWSku: d.AMTSKU,
			CurrentMode: strconv.Itoa(int(d.ControlMode)), Features: facts.Features,
			LastUpdated: d.UpdatedAt.UTC(),
		},
	}
}

func (s *server) getDevice(w http.ResponseWriter, r *http.Request, c *call) {
	d, ok := s.device(w, r, c, func(guid string) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Device ID %s not found", guid))
	})
	if ok {
		writeJSON(w, http.StatusOK, renderDevice(d))
	}
}

// device loads the {guid} device of the caller's tenant; notFound answers for unknown devices and for devices
// of other tenants alike.
func (s *server) device(w http.ResponseWriter, r *http.Request, c *call, notFound func(guid string)) (store.Device, bool) {
	guid, ok := guidParam(w, r)
	if !ok {
		return store.Device{}, false
	}
	d, err := s.Devices.GetDevice(r.Context(), guid)
	switch {
	case errors.Is(err, store.ErrNotFound), err == nil && d.TenantID != c.tenant:
		notFound(guid)
		return store.Device{}, false
	case err != nil:
		c.logger().Error().Err(err).Str("guid", guid).Msg("reading device record failed")
		writeMPSError(w, http.StatusInternalServerError, "Internal Server Error", "Exception during device request")
		return store.Device{}, false
	}
	return d, true
}

// guidParam is the request's {guid}, canonical; a malformed one is answered 400 here.
func guidParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	raw := r.PathValue("guid")
	id, err := uuid.Parse(raw)
	if err != nil || len(raw) != 36 {
		writeValidation(w, fieldError{Type: "field", Value: raw, Path: "guid", Location: "params",
			Msg: "guid must be a UUID (8-4-4-4-12 hex digits)"})
		return "", false
	}
	return id.String(), true
}

// live serves one AMT read within the request timeout; what names the request in MPS's error texts. The tenant
// check is DeviceAMT's, so a device connected here whose client is cached costs no database read.
func (s *server) live(w http.ResponseWriter, r *http.Request, c *call, what string, read func(ctx context.Context, guid string) (any, error)) {
	guid, ok := guidParam(w, r)
	if !ok {
		return
	}
	v, err := read(r.Context(), guid)
	switch {
	case errors.Is(err, ErrNotConnected):
		writeMPSError(w, http.StatusNotFound, notConnectedText, "guid : "+guid)
	case errors.Is(err, context.DeadlineExceeded):
		c.logger().Warn().Err(err).Str("guid", guid).Str("request", what).Msg("AMT did not answer in time")
		writeMPSError(w, http.StatusGatewayTimeout, "Gateway Timeout",
			fmt.Sprintf("%s request timed out after %s for guid : %s.", what, s.RequestTimeout, guid))
	case err != nil:
		c.logger().Error().Err(err).Str("guid", guid).Str("request", what).Msg("AMT request failed")
		writeMPSError(w, http.StatusInternalServerError, "Internal Server Error", "Exception during "+what+" request")
	default:
		writeJSON(w, http.StatusOK, v)
	}
}

func (s *server) generalSettings(w http.ResponseWriter, r *http.Request, c *call) {
	s.live(w, r, c, "General Settings", func(ctx context.Context, guid string) (any, error) {
		gs, err := s.AMT.GeneralSettings(ctx, c.tenant, guid)
		return renderGeneralSettings(gs), err
	})
}

func (s *server) version(w http.ResponseWriter, r *http.Request, c *call) {
	s.live(w, r, c, "AMT Version", func(ctx context.Context, guid string) (any, error) {
		v, err := s.AMT.Version(ctx, c.tenant, guid)
		return renderVersion(v), err
	})
}

func (s *server) hardwareInfo(w http.ResponseWriter, r *http.Request, c *call) {
	s.live(w, r, c, "Hardware Information", func(ctx context.Context, guid string) (any, error) {
		hw, err := s.AMT.Hardware(ctx, c.tenant, guid)
		return renderHardware(hw), err
	})
}

func (s *server) powerCapabilities(w http.ResponseWriter, r *http.Request, c *call) {
	s.live(w, r, c, "Power Capabilities", func(ctx context.Context, guid string) (any, error) {
		v, err := s.AMT.Version(ctx, c.tenant, guid)
		if err != nil {
			return nil, err
		}
		bc, err := s.AMT.BootCapabilities(ctx, c.tenant, guid)
		return powerCaps(v, bc), err
	})
}

func (s *server) auditLog(w http.ResponseWriter, r *http.Request, c *call) {
	start := 1
	if q := r.URL.Query().Get("startIndex"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil {
			writeValidation(w, fieldError{Type: "field", Value: q, Path: "startIndex", Location: "query",
				Msg: "startIndex should be an integer"})
			return
		}
		start = max(n, 1) // MPS reads from 1 for startIndex <= 0
	}
	s.live(w, r, c, "Audit Log", func(ctx context.Context, guid string) (any, error) {
		return s.readAuditLog(ctx, c.tenant, guid, start)
	})
}
