package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dmrm/dm-manager/internal/store"
)

// StoreDomains adapts *store.Store to DomainStore: each write runs in one store transaction together with the
// secret operation, and profile names are matched ignoring case (RPS keeps them in a citext column; the store's
// key is case-sensitive, while the secret path is lower-cased, so "Corp" and "corp" must never both exist).
func StoreDomains(s *store.Store) DomainStore { return &storeDomains{s: s} }

type storeDomains struct {
	s *store.Store
	// mu serialises creates in this process so two case variants of one name cannot pass the check together;
	// across replicas a unique index on lower(profile_name) would be needed for the same guarantee.
	mu sync.Mutex
}

func (a *storeDomains) ListDomains(ctx context.Context, tenantID string) ([]store.Domain, error) {
	return a.s.ListDomains(ctx, tenantID)
}

func (a *storeDomains) GetDomain(ctx context.Context, tenantID, profileName string) (store.Domain, error) {
	return findDomain(ctx, a.s, tenantID, profileName)
}

func (a *storeDomains) CreateDomain(ctx context.Context, d store.Domain, writeSecret func(context.Context) error) (store.Domain, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out store.Domain
	err := a.s.InTx(ctx, func(tx *store.Store) error {
		switch _, err := findDomain(ctx, tx, d.TenantID, d.ProfileName); {
		case err == nil:
			return fmt.Errorf("insert domain %s: %w", d.ProfileName, &store.DuplicateError{Entity: "domain", Field: "profile_name"})
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		var err error
		if out, err = tx.InsertDomain(ctx, d); err != nil {
			return err
		}
		return writeSecret(ctx)
	})
	return out, err
}

func (a *storeDomains) UpdateDomain(ctx context.Context, d store.Domain, version time.Time, writeSecret func(context.Context) error) (store.Domain, error) {
	var out store.Domain
	err := a.s.InTx(ctx, func(tx *store.Store) error {
		cur, err := findDomain(ctx, tx, d.TenantID, d.ProfileName)
		if err != nil {
			return err
		}
		if !cur.CreatedAt.Equal(version) {
			return ErrVersionConflict
		}
		// A concurrent update deleted the row first: ours finds nothing once that one commits.
		if err := tx.DeleteDomain(ctx, cur.TenantID, cur.ProfileName); errors.Is(err, store.ErrNotFound) {
			return ErrVersionConflict
		} else if err != nil {
			return err
		}
		d.ProfileName = cur.ProfileName
		if out, err = tx.InsertDomain(ctx, d); err != nil {
			return err
		}
		if writeSecret == nil {
			return nil
		}
		return writeSecret(ctx)
	})
	return out, err
}

func (a *storeDomains) RemoveDomain(ctx context.Context, tenantID, profileName string, deleteSecret func(context.Context) error) error {
	return a.s.InTx(ctx, func(tx *store.Store) error {
		cur, err := findDomain(ctx, tx, tenantID, profileName)
		if err != nil {
			return err
		}
		if err := tx.DeleteDomain(ctx, tenantID, cur.ProfileName); err != nil {
			return err
		}
		return deleteSecret(ctx)
	})
}

// findDomain looks a name up exactly, then ignoring case.
func findDomain(ctx context.Context, s *store.Store, tenantID, name string) (store.Domain, error) {
	d, err := s.GetDomain(ctx, tenantID, name)
	if !errors.Is(err, store.ErrNotFound) {
		return d, err
	}
	all, lerr := s.ListDomains(ctx, tenantID)
	if lerr != nil {
		return store.Domain{}, lerr
	}
	for _, d := range all {
		if strings.EqualFold(d.ProfileName, name) {
			return d, nil
		}
	}
	return store.Domain{}, err
}
