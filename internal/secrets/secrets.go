// Package secrets keeps device and tenant secrets (AMT/MEBx/CIRA passwords, domain PFX files, the gateway CA key)
// behind one small interface with two backends: Vault KV v2 for EMF deployments and AES-256-GCM sealed rows in our
// own Postgres database for single-node use and the demo.
//
// Every path lives under the tenant (tenants/<tenant>/...) except the gateway CA; build paths with the helpers in
// paths.go. No secret value, token or key ever appears in a log line or an error.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Store reads and writes secrets by path. Implementations are safe for concurrent use.
type Store interface {
	// Get returns the key/value pairs stored at path, or an error wrapping ErrNotFound.
	Get(ctx context.Context, path string) (map[string]string, error)
	// Put replaces whatever is stored at path with data.
	Put(ctx context.Context, path string, data map[string]string) error
	// CreateIfAbsent stores data at path only if nothing is stored there, and returns what path then holds: data
	// with created true, or the value another writer stored first. Of concurrent creators (on any replica)
	// exactly one creates and all get its value, so a value generated once stays generated once.
	CreateIfAbsent(ctx context.Context, path string, data map[string]string) (stored map[string]string, created bool, err error)
	// Delete removes path and every stored version of it; deleting a missing path is not an error.
	Delete(ctx context.Context, path string) error
	// DeletePrefix removes every secret under the folder prefix (it ends in "/"), e.g. TenantPrefix(t) when a
	// tenant is deleted.
	DeletePrefix(ctx context.Context, prefix string) error
	// Close stops background work (Vault token renewal) and releases connections.
	Close()
}

// Result is what one path of GetMany holds: its data, or an error (wrapping ErrNotFound when nothing is there).
type Result struct {
	Data map[string]string
	Err  error
}

// manyGetter is a Store that reads several paths in one round trip.
type manyGetter interface {
	getMany(ctx context.Context, paths []string) map[string]Result
}

// GetMany reads every path and returns a Result for each: in one round trip where the backend can (the embedded
// one: one query), else with up to manyGets Gets at once (Vault's KV v2 has no multi-read).
func GetMany(ctx context.Context, st Store, paths []string) map[string]Result {
	if m, ok := st.(manyGetter); ok {
		return m.getMany(ctx, paths)
	}
	out := make(map[string]Result, len(paths))
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		free = make(chan struct{}, manyGets)
	)
	for _, p := range slices.Compact(slices.Sorted(slices.Values(paths))) {
		free <- struct{}{}
		wg.Go(func() {
			defer func() { <-free }()
			r := getRecovered(ctx, st, p)
			mu.Lock()
			out[p] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// manyGets is how many Gets one GetMany keeps in flight on a backend without a multi-read, so that a batch of
// CIRA logins against Vault is not read one Get at a time.
const manyGets = 16

// getRecovered is st.Get with a panic turned into that path's error: GetMany's Gets run on goroutines of their own.
func getRecovered(ctx context.Context, st Store, path string) (r Result) {
	defer func() {
		if v := recover(); v != nil {
			r = Result{Err: fmt.Errorf("secrets: get %q: internal error: %v", path, v)}
		}
	}()
	data, err := st.Get(ctx, path)
	return Result{Data: data, Err: err}
}

var (
	// ErrNotFound means no secret is stored at the path.
	ErrNotFound = errors.New("secret not found")
	// ErrInvalidPath means a path or one of its segments is malformed; nothing was read or written.
	ErrInvalidPath = errors.New("invalid secret path")
	// ErrPermissionDenied means Vault refused the call even after a fresh login.
	ErrPermissionDenied = errors.New("vault permission denied")
	// ErrKeyMismatch means the embedded store's key is not the key the stored rows were sealed with.
	ErrKeyMismatch = errors.New("secrets key does not match the one the data was sealed with")
	// ErrTampered means a sealed row failed authentication: it was modified or copied from another path.
	ErrTampered = errors.New("sealed secret failed authentication")
	// ErrUnavailable means Vault could not be reached (no HTTP answer); the error's text names the address and the
	// path, which belong in logs, not in answers to clients.
	ErrUnavailable = errors.New("secret store unreachable")
)
