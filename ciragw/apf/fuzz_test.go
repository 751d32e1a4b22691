package apf

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"
)

// FuzzDecode checks that any input decodes to exactly one of: a message that
// re-encodes to the same length and decodes back to itself; ErrNeedMore with a
// bounded need; a *MalformedError. It also checks that the stream Reader fed
// one byte at a time agrees with Decode on the whole input and keeps its
// buffer within twice the bytes it was given.
func FuzzDecode(f *testing.F) {
	wire, _ := stream(f)
	f.Add(wire)
	for _, v := range docVectors {
		f.Add(unhex(f, v.hex))
	}
	f.Add(unhex(f, "5e 00000010 00100001"))
	f.Add(unhex(f, "05 00000801"))
	f.Add(unhex(f, "50 00000019 7564702d73656e642d746f40616d742e696e74656c2e636f6d 01 00000001 41 00000002 00000001 42 00000003 00000002 6869"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, dec := range []Decoder{{}, {PortlessRequestSuccess: true}} {
			checkDecode(t, dec, data)
			checkReader(t, dec, data)
		}
	})
}

func checkDecode(t *testing.T, dec Decoder, data []byte) {
	m, n, err := dec.Decode(data)
	var me *MalformedError
	switch {
	case err == nil:
		if m == nil || n <= 0 || n > len(data) {
			t.Fatalf("success with m=%v n=%d len=%d", m, n, len(data))
		}
		enc := Marshal(m)
		if len(enc) != n {
			t.Fatalf("%v re-encodes to %d bytes, decoded from %d", m.Type(), len(enc), n)
		}
		m2, n2, err2 := dec.Decode(enc)
		if err2 != nil || n2 != n || !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip of %v: %v %d %v", m.Type(), m2, n2, err2)
		}
	case errors.Is(err, ErrNeedMore):
		if m != nil || n <= len(data) || n > MaxMessageLen {
			t.Fatalf("need more with m=%v n=%d len=%d", m, n, len(data))
		}
		if errors.As(err, &me) {
			t.Fatal("ErrNeedMore is also malformed")
		}
	case errors.As(err, &me):
		if m != nil || n != 0 {
			t.Fatalf("malformed with m=%v n=%d", m, n)
		}
	default:
		t.Fatalf("unexpected error %v", err)
	}
}

func checkReader(t *testing.T, dec Decoder, data []byte) {
	r := NewReader(iotest.OneByteReader(bytes.NewReader(data)), dec)
	rest := data
	for {
		got, err := r.Next()
		if limit := max(2*smallBuffer, 2*len(data)); cap(r.buf) > limit {
			t.Fatalf("reader buffer %d over %d for %d input bytes", cap(r.buf), limit, len(data))
		}
		want, n, werr := dec.Decode(rest)
		if werr != nil {
			switch {
			case errors.Is(werr, ErrNeedMore) && len(rest) == 0:
				if err != io.EOF {
					t.Fatalf("reader at end: %v", err)
				}
			case errors.Is(werr, ErrNeedMore):
				if err != io.ErrUnexpectedEOF {
					t.Fatalf("reader on truncated tail: %v", err)
				}
			default:
				if !reflect.DeepEqual(err, werr) {
					t.Fatalf("reader error %v, decode error %v", err, werr)
				}
			}
			return
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("reader got %v %v, want %v", got, err, want)
		}
		rest = rest[n:]
	}
}
