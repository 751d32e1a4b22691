package api

import (
	"context"
	"sync"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/store"
)

// The recovery calls of fakeAMT: reads answer f.recovery; writes are recorded in f.writes and answer f.writeErr.

type recoveryFake struct {
	info     amt.RecoveryInfo
	power    amt.PowerState
	writeErr error // every write
	powerErr error // RequestPowerStateChange only
	writes   []string
}

var recoveryMu sync.Mutex

func (f *fakeAMT) rec() *recoveryFake {
	recoveryMu.Lock()
	defer recoveryMu.Unlock()
	if f.recovery == nil {
		f.recovery = &recoveryFake{power: amt.PowerOn}
	}
	return f.recovery
}

func (f *fakeAMT) wrote(ctx context.Context, tenant, guid, what string) error {
	if err := f.gate(ctx, tenant, guid); err != nil {
		return err
	}
	r := f.rec()
	recoveryMu.Lock()
	defer recoveryMu.Unlock()
	r.writes = append(r.writes, what)
	return r.writeErr
}

func (f *fakeAMT) RecoveryInfo(ctx context.Context, tenant, guid string) (amt.RecoveryInfo, error) {
	return f.rec().info, f.gate(ctx, tenant, guid)
}

func (f *fakeAMT) PowerState(ctx context.Context, tenant, guid string) (amt.PowerState, error) {
	return f.rec().power, f.gate(ctx, tenant, guid)
}

func (f *fakeAMT) ArmBoot(ctx context.Context, tenant, guid, _ string, _ amt.BootOptions) error {
	return f.wrote(ctx, tenant, guid, "ArmBoot")
}

func (f *fakeAMT) ClearBoot(ctx context.Context, tenant, guid string) error {
	return f.wrote(ctx, tenant, guid, "ClearBoot")
}

func (f *fakeAMT) RequestPowerStateChange(ctx context.Context, tenant, guid string, _ amt.PowerState) error {
	if err := f.wrote(ctx, tenant, guid, "RequestPowerStateChange"); err != nil {
		return err
	}
	return f.rec().powerErr
}

func (f *fakeAMT) ArmPlatformErase(ctx context.Context, tenant, guid string, _ uint32, _ string) error {
	return f.wrote(ctx, tenant, guid, "ArmPlatformErase")
}

func (f *fakeAMT) EraseProgress(ctx context.Context, tenant, guid string) (amt.EraseState, amt.BootSettingData, error) {
	return amt.EraseArmed, amt.BootSettingData{}, f.gate(ctx, tenant, guid)
}

func (f *fakeAMT) Alarms(ctx context.Context, tenant, guid string) ([]amt.AlarmOccurrence, error) {
	return nil, f.gate(ctx, tenant, guid)
}

func (f *fakeAMT) AddAlarm(ctx context.Context, tenant, guid string, _ amt.AlarmOccurrence) error {
	return f.wrote(ctx, tenant, guid, "AddAlarm")
}

func (f *fakeAMT) DeleteAlarm(ctx context.Context, tenant, guid, _ string) error {
	return f.wrote(ctx, tenant, guid, "DeleteAlarm")
}

// memJournal is an in-memory RecoveryJournal.
type memJournal struct {
	mu sync.Mutex
	m  map[string]store.JournalEntry
}

func (j *memJournal) GetJournal(_ context.Context, guid string, kind store.OpKind) (store.JournalEntry, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	e, ok := j.m[guid+string(kind)]
	if !ok {
		return e, store.ErrNotFound
	}
	return e, nil
}

func (j *memJournal) PutJournal(_ context.Context, e store.JournalEntry) (store.JournalEntry, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.m == nil {
		j.m = map[string]store.JournalEntry{}
	}
	j.m[e.GUID+string(e.Kind)] = e
	return e, nil
}
