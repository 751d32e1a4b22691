package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
)

// memDomains is an in-memory DomainStore with the store's rules: tenants must be known, names are unique
// ignoring case, suffixes unique ignoring case, a failed secret operation leaves nothing changed.
type memDomains struct {
	mu      sync.Mutex
	tenants map[string]bool
	rows    []store.Domain
	clock   time.Time
}

func newMemDomains(tenants ...string) *memDomains {
	m := &memDomains{tenants: map[string]bool{}, clock: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	for _, t := range tenants {
		m.tenants[t] = true
	}
	return m
}

func (m *memDomains) find(tenant, name string) int {
	return slices.IndexFunc(m.rows, func(d store.Domain) bool {
		return d.TenantID == tenant && strings.EqualFold(d.ProfileName, name)
	})
}

func (m *memDomains) ListDomains(_ context.Context, tenant string) ([]store.Domain, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Domain
	for _, d := range m.rows {
		if d.TenantID == tenant {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b store.Domain) int { return strings.Compare(a.ProfileName, b.ProfileName) })
	return out, nil
}

func (m *memDomains) GetDomain(_ context.Context, tenant, name string) (store.Domain, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if i := m.find(tenant, name); i >= 0 {
		return m.rows[i], nil
	}
	return store.Domain{}, fmt.Errorf("get domain %s: %w", name, store.ErrNotFound)
}

// check applies the unique rules to d, ignoring row skip.
func (m *memDomains) check(d store.Domain, skip int) error {
	if !m.tenants[d.TenantID] {
		return store.ErrUnknownTenant
	}
	for i, r := range m.rows {
		if i == skip || r.TenantID != d.TenantID {
			continue
		}
		if strings.EqualFold(r.ProfileName, d.ProfileName) {
			return &store.DuplicateError{Entity: "domain", Field: "profile_name"}
		}
		if strings.EqualFold(r.DomainSuffix, d.DomainSuffix) {
			return &store.DuplicateError{Entity: "domain", Field: "domain_suffix"}
		}
	}
	return nil
}

func (m *memDomains) CreateDomain(ctx context.Context, d store.Domain, write func(context.Context) error) (store.Domain, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(d, -1); err != nil {
		return store.Domain{}, err
	}
	if err := write(ctx); err != nil {
		return store.Domain{}, err
	}
	m.clock = m.clock.Add(time.Second)
	d.CreatedAt = m.clock
	m.rows = append(m.rows, d)
	return d, nil
}

func (m *memDomains) UpdateDomain(ctx context.Context, d store.Domain, version time.Time, write func(context.Context) error) (store.Domain, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := m.find(d.TenantID, d.ProfileName)
	switch {
	case i < 0:
		return store.Domain{}, store.ErrNotFound
	case !m.rows[i].CreatedAt.Equal(version):
		return store.Domain{}, ErrVersionConflict
	}
	if err := m.check(d, i); err != nil {
		return store.Domain{}, err
	}
	if write != nil {
		if err := write(ctx); err != nil {
			return store.Domain{}, err
		}
	}
	m.clock = m.clock.Add(time.Second)
	d.CreatedAt, d.ProfileName = m.clock, m.rows[i].ProfileName
	m.rows[i] = d
	return d, nil
}

func (m *memDomains) RemoveDomain(ctx context.Context, tenant, name string, del func(context.Context) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := m.find(tenant, name)
	if i < 0 {
		return store.ErrNotFound
	}
	if err := del(ctx); err != nil {
		return err
	}
	m.rows = slices.Delete(m.rows, i, i+1)
	return nil
}

// memSecrets is an in-memory secret store that can be told to fail.
type memSecrets struct {
	mu        sync.Mutex
	data      map[string]map[string]string
	failPut   error
	failDel   error
	failGet   error
	putCalls  int
	lastWrite map[string]string
}

func newMemSecrets() *memSecrets { return &memSecrets{data: map[string]map[string]string{}} }

func (m *memSecrets) Get(_ context.Context, path string) (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failGet != nil {
		return nil, m.failGet
	}
	if d, ok := m.data[path]; ok {
		return d, nil
	}
	return nil, secrets.ErrNotFound
}

func (m *memSecrets) Put(_ context.Context, path string, data map[string]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.putCalls++
	if m.failPut != nil {
		return m.failPut
	}
	m.data[path], m.lastWrite = data, data
	return nil
}

func (m *memSecrets) Delete(_ context.Context, path string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failDel != nil {
		return m.failDel
	}
	delete(m.data, path)
	return nil
}

func (m *memSecrets) paths() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for p := range m.data {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

type memDevices map[string]store.Device

func (m memDevices) GetDevice(_ context.Context, guid string) (store.Device, error) {
	if d, ok := m[guid]; ok {
		return d, nil
	}
	return store.Device{}, store.ErrNotFound
}

// fakeAMT answers for connected devices; an audit log of n records numbered 1..n (EventID = record number).
type fakeAMT struct {
	connected map[string]bool
	version   string
	boot      amt.BootCapabilities
	audit     int
	block     bool       // wait for the request context instead of answering
	fail      error      // every call fails with this
	devices   memDevices // when set, the tenant check
	recovery  *recoveryFake

	mu    sync.Mutex
	reads []int // audit log start indexes asked for
}

func (f *fakeAMT) gate(ctx context.Context, tenant, guid string) error {
	switch {
	case f.devices != nil && f.devices[guid].TenantID != tenant: // as the real DeviceAMT: not the tenant's
		return fmt.Errorf("device %s: %w", guid, ErrNotConnected)
	case f.block:
		<-ctx.Done()
		return fmt.Errorf("waiting for AMT: %w", ctx.Err())
	case f.fail != nil:
		return f.fail
	case !f.connected[guid]:
		return fmt.Errorf("device %s: %w", guid, ErrNotConnected)
	}
	return nil
}

func (f *fakeAMT) GeneralSettings(ctx context.Context, tenant, guid string) (amt.GeneralSettings, error) {
	if err := f.gate(ctx, tenant, guid); err != nil {
		return amt.GeneralSettings{}, err
	}
	return amt.GeneralSettings{ElementName: "Intel(r) AMT: General Settings", DigestRealm: "Digest:F3EB554784E729164447A89F60B641C5",
		NetworkInterfaceEnabled: true, AMTNetworkEnabled: 1}, nil
}

func (f *fakeAMT) Version(ctx context.Context, tenant, guid string) (amt.Version, error) {
	if err := f.gate(ctx, tenant, guid); err != nil {
		return amt.Version{}, err
	}
	return amt.Version{
		Software: []amt.SoftwareIdentity{{InstanceID: "AMT", IsEntity: true, VersionString: f.version}},
		Setup:    amt.SetupAndConfigurationService{ProvisioningMode: 1, ProvisioningState: 2},
	}, nil
}

func (f *fakeAMT) Hardware(ctx context.Context, tenant, guid string) (amt.Hardware, error) {
	if err := f.gate(ctx, tenant, guid); err != nil {
		return amt.Hardware{}, err
	}
	return amt.Hardware{
		SystemPackage: amt.ComputerSystemPackage{PlatformGUID: "44454C4C4B0042108033B6C04F504633"},
		Chassis:       amt.PhysicalPackage{Manufacturer: "Dell Inc.", ChassisPackageType: 3},
		BIOS:          amt.BIOSElement{Manufacturer: "Dell Inc.", Version: "1.2.3", PrimaryBIOS: true},
		Processors:    []amt.Processor{{DeviceID: "CPU 0", MaxClockSpeed: 4700}},
		Memory:        []amt.PhysicalMemory{{BankLabel: "BANK 0", Capacity: 8 << 30}},
	}, nil
}

func (f *fakeAMT) ReadAuditLog(ctx context.Context, tenant, guid string, start int) (amt.AuditLogPage, error) {
	if err := f.gate(ctx, tenant, guid); err != nil {
		return amt.AuditLogPage{}, err
	}
	f.mu.Lock()
	f.reads = append(f.reads, start)
	f.mu.Unlock()
	page := amt.AuditLogPage{TotalRecordCount: f.audit}
	for i := start; i <= f.audit && i < start+auditPageSize; i++ {
		page.Records = append(page.Records, amt.AuditRecord{AppID: 16, EventID: uint16(i), InitiatorType: amt.InitiatorLocal,
			Time: time.Unix(1585593639, 0), NetAddress: "127.0.0.1"})
	}
	page.RecordsReturned = len(page.Records)
	return page, nil
}

func (f *fakeAMT) BootCapabilities(ctx context.Context, tenant, guid string) (amt.BootCapabilities, error) {
	if err := f.gate(ctx, tenant, guid); err != nil {
		return amt.BootCapabilities{}, err
	}
	return f.boot, nil
}

var errBoom = errors.New("boom: backend unavailable")

// memProfiles holds each tenant's _ccm and _acm profiles with EMF's features, as the tenant reconciler creates them.
type memProfiles struct {
	mu   sync.Mutex
	rows map[string]store.Profile // by tenant + "/" + name
}

func newMemProfiles(tenants ...string) *memProfiles {
	m := &memProfiles{rows: map[string]store.Profile{}}
	for _, t := range tenants {
		for _, a := range []store.Activation{store.ActivationACM, store.ActivationCCM} {
			p := store.Profile{TenantID: t, Name: t + "_" + string(a), Activation: a, CIRAConfig: t,
				UserConsent: store.ConsentAll, Tags: []string{}, Features: store.DefaultFeatures}
			if a == store.ActivationACM {
				p.UserConsent = store.ConsentNone
			}
			m.rows[t+"/"+p.Name] = p
		}
	}
	return m
}

func (m *memProfiles) ListProfiles(_ context.Context, tenant string) ([]store.Profile, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Profile
	for _, p := range m.rows {
		if p.TenantID == tenant {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b store.Profile) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (m *memProfiles) GetProfile(_ context.Context, tenant, name string) (store.Profile, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.rows[tenant+"/"+name]
	if !ok {
		return store.Profile{}, store.ErrNotFound
	}
	return p, nil
}

func (m *memProfiles) SetProfileFeatures(_ context.Context, tenant, name string, f store.Features) (store.Profile, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.rows[tenant+"/"+name]
	if !ok {
		return store.Profile{}, store.ErrNotFound
	}
	p.Features = f
	m.rows[tenant+"/"+name] = p
	return p, nil
}
