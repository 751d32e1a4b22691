package devices

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
)

// RowError is one problem of an import file. It never quotes a credential.
type RowError struct {
	Line    int    // 1-based line of the file; 0 when not tied to a line
	GUID    string // the row's GUID as written, when known
	Field   string // column / key, when one is at fault
	Problem string
}

func (e RowError) Error() string {
	s := ""
	if e.Line > 0 {
		s = "line " + strconv.Itoa(e.Line) + ": "
	}
	if e.GUID != "" {
		s += "device " + e.GUID + ": "
	}
	if e.Field != "" {
		s += e.Field + ": "
	}
	return s + e.Problem
}

// Report says what an import did, or why it did nothing.
type Report struct {
	Rows           int        // devices in the file
	Created        int        // devices new to dm-manager
	Updated        int        // devices already recorded in the same tenant whose credentials were replaced
	TenantsCreated []string   // tenants recorded by this import (see Importer.Import)
	Errors         []RowError // non-empty: nothing was imported
}

// Importer brings devices activated elsewhere (HIP rigs, a migration from an existing Device Management Toolkit
// deployment) under dm-manager: their store rows and their secrets.
type Importer struct {
	st  *store.Store
	sec secrets.Store
	log zerolog.Logger
	// restoreTimeout bounds putting back the secrets of a failed import.
	restoreTimeout time.Duration
}

// NewImporter returns an Importer writing to st and sec.
func NewImporter(st *store.Store, sec secrets.Store, log zerolog.Logger) *Importer {
	return &Importer{st: st, sec: sec, log: log.With().Str("component", "devices-import").Logger(), restoreTimeout: 2 * time.Minute}
}

// Import reads devices from r and records them all, or none.
//
// The file has one device per row (CSV with a header line naming the columns, or a JSON array of objects with
// the same keys): guid, tenant, cira_username, cira_password, amt_password, and optionally mebx_password and
// control_mode (ccm, the default, or acm). Every device is recorded as activated in that mode, with its CIRA
// username; its passwords go to the secrets store at tenants/<tenant>/devices/<guid>.
//
// Every row is checked before anything is written (UUIDs, credentials present and within AMT's limits, no GUID
// twice, no device recorded under another tenant), and every problem is reported with its line; then any problem
// rejects the whole file (ErrImportRejected). Devices may share a CIRA username, as an EMF fleet does ("admin"):
// the gateway identifies a device by its GUID (protocol-cira-wsman §4.2). A device already recorded in the same
// tenant is updated: its CIRA username, mode and passwords are replaced, everything else is kept.
//
// A tenant not yet recorded is created with an empty CIRA configuration: that is how the tenant reconciler
// recognises a tenant it has not bootstrapped, and it fills the configuration in on its next pass (and removes
// the tenant, with its devices, if Inventory does not know it).
//
// Store writes are one transaction. Secrets are written before it commits; if anything fails afterwards, each
// secret is put back as it was (or deleted if it was new).
func (im *Importer) Import(ctx context.Context, r io.Reader, format Format) (Report, error) {
	rows, perr := parseImport(r, format)
	rep := Report{Rows: len(rows)}
	valid, errs := validateRows(rows)
	if perr != nil {
		errs = append(errs, *perr)
	}
	if len(rows) == 0 && len(errs) == 0 {
		errs = append(errs, RowError{Problem: "the file holds no devices"})
	}
	if len(errs) > 0 {
		return im.rejected(rep, errs)
	}

	var undo []secretUndo
	err := im.st.InTx(ctx, func(tx *store.Store) error {
		plan, errs, err := im.plan(ctx, tx, valid)
		if err != nil {
			return err
		}
		if len(errs) > 0 {
			rep.Errors = errs
			return ErrImportRejected
		}
		if undo, err = im.writeSecrets(ctx, valid, plan); err != nil {
			return err
		}
		rep.TenantsCreated, rep.Created, rep.Updated, err = im.writeStore(ctx, tx, valid, plan)
		return err
	})
	if len(rep.Errors) > 0 {
		return im.rejected(rep, rep.Errors)
	}
	if err != nil {
		rep.TenantsCreated, rep.Created, rep.Updated = nil, 0, 0
		if rerr := im.restore(ctx, undo); rerr != nil {
			return rep, fmt.Errorf("devices: import failed, nothing recorded in the store: %w; %w", err, rerr)
		}
		return rep, fmt.Errorf("devices: import failed, nothing imported: %w", err)
	}
	im.log.Info().Int("created", rep.Created).Int("updated", rep.Updated).Strs("tenants_created", rep.TenantsCreated).
		Msg("devices imported")
	return rep, nil
}

func (im *Importer) rejected(rep Report, errs []RowError) (Report, error) {
	slices.SortStableFunc(errs, func(a, b RowError) int { return a.Line - b.Line })
	rep.Errors = errs
	return rep, fmt.Errorf("%w: %d problem(s) in the file", ErrImportRejected, len(errs))
}

// importPlan is what the store already holds for the file's devices.
type importPlan struct {
	newTenants []string                // in file order
	existing   map[string]store.Device // by GUID, devices already recorded (same tenant)
}

// plan checks the rows against the store, inside the import transaction.
func (im *Importer) plan(ctx context.Context, tx *store.Store, rows []validRow) (importPlan, []RowError, error) {
	p := importPlan{existing: map[string]store.Device{}}
	tenants := map[string]bool{} // tenant -> already recorded
	var errs []RowError
	for _, r := range rows {
		if _, seen := tenants[r.tenant]; !seen {
			_, err := tx.GetTenant(ctx, r.tenant)
			switch {
			case errors.Is(err, store.ErrNotFound):
				tenants[r.tenant] = false
				p.newTenants = append(p.newTenants, r.tenant)
			case err != nil:
				return p, nil, err
			default:
				tenants[r.tenant] = true
			}
		}
		d, err := tx.GetDevice(ctx, r.guid)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return p, nil, err
		case d.TenantID != r.tenant:
			errs = append(errs, RowError{Line: r.line, GUID: r.guid, Field: colTenant,
				Problem: "the device is recorded for tenant " + d.TenantID + "; remove it there first"})
		default:
			p.existing[r.guid] = d
		}
	}
	return p, errs, nil
}

// secretUndo restores one secret path after a failed import.
type secretUndo struct {
	path string
	prev map[string]string // nil: the path did not exist
}

func (im *Importer) writeSecrets(ctx context.Context, rows []validRow, p importPlan) ([]secretUndo, error) {
	undo := make([]secretUndo, 0, len(rows))
	for _, r := range rows {
		path, err := secrets.Device(r.tenant, r.guid)
		if err != nil {
			return undo, err
		}
		prev, err := im.sec.Get(ctx, path)
		if err != nil && !errors.Is(err, secrets.ErrNotFound) {
			return undo, err
		}
		next := map[string]string{}
		if prev != nil {
			maps.Copy(next, prev) // e.g. a MEBx password the file does not carry
		}
		next[secrets.KeyCIRAUsername] = r.username
		next[secrets.KeyCIRAPassword] = r.ciraPassword
		next[secrets.KeyAMTPassword] = r.amtPassword
		if r.mebxPassword != "" {
			next[secrets.KeyMEBxPassword] = r.mebxPassword
		}
		undo = append(undo, secretUndo{path: path, prev: prev})
		if err := im.sec.Put(ctx, path, next); err != nil {
			return undo, err
		}
	}
	return undo, nil
}

func (im *Importer) writeStore(ctx context.Context, tx *store.Store, rows []validRow, p importPlan) (
	tenants []string, created, updated int, err error,
) {
	for _, t := range p.newTenants {
		if _, err := tx.UpsertTenant(ctx, store.Tenant{ID: t}); err != nil {
			return nil, 0, 0, err
		}
	}
	for _, r := range rows {
		d, ok := p.existing[r.guid]
		if ok {
			updated++
		} else {
			d = store.Device{GUID: r.guid, TenantID: r.tenant}
			created++
		}
		d.CIRAUsername, d.ControlMode, d.ActivationState = r.username, r.mode, store.StateActivated
		if _, err := tx.UpsertDevice(ctx, d); err != nil {
			return nil, 0, 0, fmt.Errorf("line %d: %w", r.line, err)
		}
	}
	return p.newTenants, created, updated, nil
}

// restore puts the secrets of a failed import back, even when ctx has ended.
func (im *Importer) restore(ctx context.Context, undo []secretUndo) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), im.restoreTimeout)
	defer cancel()
	var failed []string
	var firstErr error
	for _, u := range undo {
		var err error
		if u.prev == nil {
			err = im.sec.Delete(ctx, u.path)
		} else {
			err = im.sec.Put(ctx, u.path, u.prev)
		}
		if err != nil {
			failed = append(failed, u.path)
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if len(failed) == 0 {
		return nil
	}
	im.log.Error().Err(firstErr).Strs("paths", failed).Msg("could not restore secrets after a failed import")
	return fmt.Errorf("restoring %d secret(s) failed (first: %w); they may hold the file's values: %v",
		len(failed), firstErr, failed)
}
