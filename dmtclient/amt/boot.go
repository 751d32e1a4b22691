package amt

import (
	"context"
	"strings"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

// Boot control classes (protocol-recovery §0). The override for the next boot is: clear the boot source, Put
// AMT_BootSettingData, make Boot Configuration 0 the next boot's (SetBootConfigRole, IsNextSingleUse), select the
// source (§1.2 steps 4–7); the power action that follows makes the BIOS take it.

var (
	uriBootSettingData   = wsman.AMT("AMT_BootSettingData")
	uriBootService       = wsman.CIM("CIM_BootService")
	uriBootSourceSetting = wsman.CIM("CIM_BootSourceSetting")
	uriBootConfigSetting = wsman.CIM("CIM_BootConfigSetting")
)

// Boot source InstanceIDs (§0.4) and the boot configuration AMT arms (§0.2).
const (
	BootSourcePXE       = "Intel(r) AMT: Force PXE Boot"
	BootSourceCDDVD     = "Intel(r) AMT: Force CD/DVD Boot"
	BootSourceHTTPS     = "Intel(r) AMT: Force OCR UEFI HTTPS Boot"
	BootSourceOCRPrefix = "Intel(r) AMT: Force OCR UEFI Boot Option"
	bootConfigInstance  = "Intel(r) AMT: Boot Configuration 0"
	roleIsNextSingleUse = 1
)

// CIM_BootService EnabledState / RequestedState values for One-Click Recovery (OCR) and Remote Platform Erase
// (RPE) (§0.5).
const (
	BootServiceNone   = 32768
	BootServiceOCR    = 32769
	BootServiceRPE    = 32770
	BootServiceOCRRPE = 32771
)

// BootSettingData is AMT_BootSettingData as read (§0.3). BIOSLastStatus word 0: 0 success, 1 in progress,
// 2 not updated, 65535 failed; word 1: 0 ok, 1 drive failure, 2 drive authentication failure, 3 not supported.
type BootSettingData struct {
	ElementName              string
	InstanceID               string
	OwningEntity             string
	BIOSLastStatus           []int
	BIOSPause                bool
	BIOSSetup                bool
	BootMediaIndex           int
	ConfigurationDataReset   bool
	EnforceSecureBoot        bool
	FirmwareVerbosity        int
	ForcedProgressEvents     bool
	IDERBootDevice           int
	LockKeyboard             bool
	LockPowerButton          bool
	LockResetButton          bool
	LockSleepButton          bool
	OptionsCleared           bool
	PlatformErase            bool
	RPEEnabled               bool
	ReflashBIOS              bool
	SecureBootControlEnabled bool
	SecureErase              bool
	UEFIHTTPSBootEnabled     bool
	UEFILocalPBABootEnabled  bool
	UseIDER                  bool
	UseSOL                   bool
	UseSafeMode              bool
	UserPasswordBypass       bool
	WinREBootEnabled         bool
}

// BootOptions are the writable flags of a one-time boot; everything not set is written false/0/empty, so no
// flag of an earlier request survives (go-wsman's fixed-list Put, §0.3).
type BootOptions struct {
	BIOSSetup              bool
	UseIDER                bool
	IDERBootDevice         int // 0 floppy, 1 CD
	UseSOL                 bool
	EnforceSecureBoot      bool
	ForcedProgressEvents   bool
	ConfigurationDataReset bool
	PlatformErase          bool
	RSEPassword            string // SSD password for an erase; write-only
	UEFIParams             []TLV
}

// BootSourceSetting is one CIM_BootSourceSetting (§0.4).
type BootSourceSetting struct {
	InstanceID           string
	ElementName          string
	StructuredBootString string
	BIOSBootString       string
	BootString           string
	FailThroughSupported int
}

// BootService is CIM_BootService (§0.5).
type BootService struct {
	Name           string
	EnabledState   int
	RequestedState int
}

// BootSettingData reads AMT_BootSettingData.
func (c *Client) BootSettingData(ctx context.Context) (BootSettingData, error) {
	var v BootSettingData
	return v, c.get(ctx, uriBootSettingData, &v)
}

// PutBootSettingData writes every writable flag (§0.3, go-wsman order) with the instance's keys from cur.
func (c *Client) PutBootSettingData(ctx context.Context, cur BootSettingData, o BootOptions) error {
	blob, err := EncodeTLVs(o.UEFIParams)
	if err != nil {
		return err
	}
	p := params{
		wsman.Bool("BIOSPause", false), wsman.Bool("BIOSSetup", o.BIOSSetup), wsman.Int("BootMediaIndex", 0),
		wsman.Bool("ConfigurationDataReset", o.ConfigurationDataReset), wsman.Text("ElementName", cur.ElementName),
		wsman.Bool("EnforceSecureBoot", o.EnforceSecureBoot), wsman.Int("FirmwareVerbosity", 0),
		wsman.Bool("ForcedProgressEvents", o.ForcedProgressEvents), wsman.Int("IDERBootDevice", int64(o.IDERBootDevice)),
		wsman.Text("InstanceID", cur.InstanceID), wsman.Bool("LockKeyboard", false), wsman.Bool("LockPowerButton", false),
		wsman.Bool("LockResetButton", false), wsman.Bool("LockSleepButton", false),
		wsman.Text("OwningEntity", cur.OwningEntity),
	}
	if o.PlatformErase {
		p = append(p, wsman.Bool("PlatformErase", true)) // absent before CSME 16: sent only when wanted
	}
	p = append(p, wsman.Text("RSEPassword", o.RSEPassword), wsman.Bool("ReflashBIOS", false),
		wsman.Bool("SecureErase", false))
	if len(o.UEFIParams) > 0 {
		p = append(p, wsman.Text("UefiBootParametersArray", blob), wsman.Int("UefiBootNumberOfParams", int64(len(o.UEFIParams))))
	}
	p = append(p, wsman.Bool("UseIDER", o.UseIDER), wsman.Bool("UseSOL", o.UseSOL), wsman.Bool("UseSafeMode", false),
		wsman.Bool("UserPasswordBypass", false))
	_, err = c.ws.Put(ctx, uriBootSettingData, p)
	return err
}

// BootSources lists CIM_BootSourceSetting.
func (c *Client) BootSources(ctx context.Context) ([]BootSourceSetting, error) {
	return enumerate[BootSourceSetting](ctx, c, uriBootSourceSetting)
}

// BootService reads CIM_BootService.
func (c *Client) BootService(ctx context.Context) (BootService, error) {
	var v BootService
	return v, c.get(ctx, uriBootService, &v)
}

// SetBootServiceState enables or disables OCR and RPE in AMT (RequestStateChange, one of BootService*).
func (c *Client) SetBootServiceState(ctx context.Context, state int) error {
	return c.invoke(ctx, uriBootService, "RequestStateChange", nil, wsman.Int("RequestedState", int64(state)))
}

// SetBootConfigRole makes Boot Configuration 0 the configuration of the next boot only.
func (c *Client) SetBootConfigRole(ctx context.Context) error {
	return c.invoke(ctx, uriBootService, "SetBootConfigRole", nil,
		wsman.Ref("BootConfigSetting", wsman.EPR{Address: wsman.NSAddressing, ResourceURI: uriBootConfigSetting,
			Selectors: []wsman.Selector{{Name: "InstanceID", Value: bootConfigInstance}}}),
		wsman.Int("Role", roleIsNextSingleUse))
}

// ChangeBootOrder selects the boot source of the next boot; "" clears it.
func (c *Client) ChangeBootOrder(ctx context.Context, source string) error {
	var p []wsman.Param
	if source != "" {
		p = append(p, wsman.Ref("Source", wsman.EPR{Address: wsman.NSAddressing, ResourceURI: uriBootSourceSetting,
			Selectors: []wsman.Selector{{Name: "InstanceID", Value: source}}}))
	}
	return c.invoke(ctx, uriBootConfigSetting, "ChangeBootOrder", nil, p...)
}

// ArmBoot is §1.2 steps 4–7: clear the source, write the flags, arm Boot Configuration 0 for the next boot,
// select source ("" none). A One-Click Recovery source (HTTPS, PBA, WinRE) needs OCR enabled in AMT first, which
// is done here keeping the RPE setting (§1.3). Nothing happens until a power action restarts the host.
func (c *Client) ArmBoot(ctx context.Context, source string, o BootOptions) error {
	if source == BootSourceHTTPS || strings.HasPrefix(source, BootSourceOCRPrefix) {
		if err := c.enableBootService(ctx, BootServiceOCR); err != nil {
			return err
		}
	}
	cur, err := c.BootSettingData(ctx)
	if err != nil {
		return err
	}
	if err := c.ChangeBootOrder(ctx, ""); err != nil {
		return err
	}
	if err := c.PutBootSettingData(ctx, cur, o); err != nil {
		return err
	}
	if err := c.SetBootConfigRole(ctx); err != nil {
		return err
	}
	if source == "" {
		return nil
	}
	return c.ChangeBootOrder(ctx, source)
}

// enableBootService turns on OCR (BootServiceOCR) or RPE (BootServiceRPE) in CIM_BootService, keeping the other.
func (c *Client) enableBootService(ctx context.Context, want int) error {
	svc, err := c.BootService(ctx)
	if err != nil {
		return err
	}
	bits := 0
	if s := svc.EnabledState; s >= BootServiceNone && s <= BootServiceOCRRPE {
		bits = s - BootServiceNone
	}
	if bits&(want-BootServiceNone) != 0 {
		return nil
	}
	return c.SetBootServiceState(ctx, BootServiceNone+(bits|(want-BootServiceNone)))
}

// RecoveryInfo is what the recovery routes check before writing anything: capabilities, current boot settings,
// boot service state, boot sources and control mode.
type RecoveryInfo struct {
	Capabilities BootCapabilities
	Settings     BootSettingData
	Service      BootService
	Sources      []BootSourceSetting
	Setup        SetupAndConfigurationService
}

// HasSource reports whether AMT lists the boot source id.
func (r RecoveryInfo) HasSource(id string) bool {
	for _, s := range r.Sources {
		if s.InstanceID == id {
			return true
		}
	}
	return false
}

// RecoveryInfo reads AMT_BootCapabilities, AMT_BootSettingData, CIM_BootService, CIM_BootSourceSetting and
// AMT_SetupAndConfigurationService (reads only).
func (c *Client) RecoveryInfo(ctx context.Context) (RecoveryInfo, error) {
	var r RecoveryInfo
	var err error
	if r.Capabilities, err = c.BootCapabilities(ctx); err != nil {
		return r, err
	}
	if r.Settings, err = c.BootSettingData(ctx); err != nil {
		return r, err
	}
	if r.Service, err = c.BootService(ctx); err != nil {
		return r, err
	}
	if r.Sources, err = c.BootSources(ctx); err != nil {
		return r, err
	}
	r.Setup, err = c.SetupAndConfigurationService(ctx)
	return r, err
}

// ClearBoot removes any one-time override: boot source cleared and every flag written false, as MPS does before a
// plain power action (protocol-cira-wsman §10.5), so a reset is a plain reset.
func (c *Client) ClearBoot(ctx context.Context) error {
	cur, err := c.BootSettingData(ctx)
	if err != nil {
		return err
	}
	if err := c.ChangeBootOrder(ctx, ""); err != nil {
		return err
	}
	return c.PutBootSettingData(ctx, cur, BootOptions{})
}
