package invtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// lockEnv takes an exclusive flock on path, waiting at most wait for the current holder, and records who holds
// it so a waiting package can say whom it waits for. The kernel drops the lock if the process dies.
func lockEnv(path string, wait time.Duration) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666) //nolint:gosec // shared by every user on the machine
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		holder, _ := os.ReadFile(path) //nolint:gosec // our own lock file
		fmt.Fprintf(os.Stderr, "invtest: waiting for %s held by %s\n", path, strings.TrimSpace(string(holder)))
		err = waitLock(f, wait)
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	me, _ := os.Executable()
	if err := f.Truncate(0); err == nil {
		_, _ = fmt.Fprintf(f, "pid %d (%s)\n", os.Getpid(), filepath.Base(me))
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}

// waitLock blocks in flock; if wait passes first, the blocked goroutine is left behind and the process exits soon.
func waitLock(f *os.File, wait time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-done:
		return err
	case <-time.After(wait):
		return fmt.Errorf("still held by another test run after %s; wait for it to finish or stop it "+
			"(the lock is released when its process exits)", wait)
	}
}
