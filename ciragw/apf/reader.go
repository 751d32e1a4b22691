package apf

import (
	"errors"
	"io"
	"math/bits"
	"sync"
)

// smallBuffer is the buffer a Reader keeps between messages. Handshake and
// keepalive messages fit in it; a larger buffer is taken only for a larger
// message and given back once that message has been consumed, so an idle
// connection holds smallBuffer bytes.
const smallBuffer = 256

// Larger buffers, of 512 bytes to maxPooled in powers of two, are shared
// through pools: a busy session receives WS-Man answers of a few KiB in
// CHANNEL_DATA, and buffers grown afresh for each would be most of what the
// gateway allocates. A message larger than maxPooled gets buffers of its own.
const maxPooled = 16 << 10

var pools [6]sync.Pool // pools[i] holds buffers of 2*smallBuffer<<i bytes, up to maxPooled

// poolOf is the pool of buffers of size bytes, or nil.
func poolOf(size int) *sync.Pool {
	if size <= smallBuffer || size > maxPooled || size&(size-1) != 0 {
		return nil
	}
	return &pools[bits.Len(uint(size))-bits.Len(2*smallBuffer)]
}

func getBuffer(size int) []byte {
	if p := poolOf(size); p != nil {
		if b, ok := p.Get().(*[]byte); ok {
			return (*b)[:size]
		}
	}
	return make([]byte, size)
}

// Reader decodes messages from a byte stream. A message may arrive split over
// any number of reads and one read may carry several messages (§2.1).
type Reader struct {
	r          io.Reader
	dec        Decoder
	buf        []byte // undecoded bytes are buf[start:end]
	start, end int
	err        error // sticky read error, returned once buffered bytes are used up
}

// NewReader returns a Reader decoding r with dec.
func NewReader(r io.Reader, dec Decoder) *Reader { return &Reader{r: r, dec: dec} }

// SetDecoder changes the decoder used for the following messages.
func (r *Reader) SetDecoder(dec Decoder) { r.dec = dec }

// Next returns the next message. Byte slices inside it alias the Reader's
// buffer and are valid only until the following call to Next. Errors are a
// *MalformedError, io.EOF at a message boundary, io.ErrUnexpectedEOF inside a
// message, or the underlying reader's error.
func (r *Reader) Next() (Message, error) {
	if r.start == r.end {
		r.start, r.end = 0, 0
		if cap(r.buf) > smallBuffer {
			r.release()
		}
	}
	for {
		need := 1
		if r.end > r.start {
			m, n, err := r.dec.Decode(r.buf[r.start:r.end])
			if err == nil {
				r.start += n
				return m, nil
			}
			if !errors.Is(err, ErrNeedMore) {
				return nil, err
			}
			need = n
		}
		if r.err != nil {
			if r.err == io.EOF && r.end > r.start {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, r.err
		}
		r.fill(need)
	}
}

// Retry forgets the last read error, so that Next reads again: for a source
// that reports it has nothing yet without waiting, never after io.EOF. A
// Reader holding no undecoded bytes drops its buffer too: the source may have
// nothing for a long while, and the next read allocates one again.
func (r *Reader) Retry() {
	r.err = nil
	if r.start == r.end {
		r.release()
		r.start, r.end = 0, 0
	}
}

// release gives the buffer up, to its pool if it has one.
func (r *Reader) release() {
	if p := poolOf(cap(r.buf)); p != nil {
		b := r.buf[:cap(r.buf)]
		p.Put(&b)
	}
	r.buf = nil
}

// fill reads once into the free part of the buffer. It moves undecoded bytes
// to the front when the message would not fit behind them, and grows the
// buffer only when it is full: geometrically (in pooled powers of two up to
// maxPooled) and never beyond need (rounded up to a pooled size), so a peer
// that announces a 1 MiB CHANNEL_DATA and sends nothing more costs memory in
// proportion to what it really sent.
func (r *Reader) fill(need int) {
	if r.start > 0 && len(r.buf)-r.start < need {
		r.end = copy(r.buf, r.buf[r.start:r.end])
		r.start = 0
	}
	if r.end == len(r.buf) {
		size := smallBuffer
		if need > smallBuffer {
			want := need
			if need <= maxPooled {
				want = 1 << bits.Len(uint(need-1)) // a pooled size
			}
			size = min(want, max(2*len(r.buf), 2*smallBuffer))
		}
		buf := getBuffer(size)
		r.end = copy(buf, r.buf[r.start:r.end])
		r.start = 0
		r.release()
		r.buf = buf
	}
	n, err := r.r.Read(r.buf[r.end:])
	r.end += n
	r.err = err
}
