// Package testlog holds a log sink that tests read while other goroutines (handlers, keepers, servers) write to it.
package testlog

import (
	"bytes"
	"sync"
)

// Buffer is an io.Writer for a logger, safe for concurrent writers and readers.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
