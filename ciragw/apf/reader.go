package apf

import (
	"errors"
	"io"
)

// smallBuffer is the buffer a Reader keeps between messages. Handshake and
// keepalive messages fit in it; a larger buffer is allocated only for a
// larger message and dropped once that message has been consumed, so an idle
// connection holds smallBuffer bytes.
const smallBuffer = 256

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
			r.buf = nil
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
		r.buf, r.start, r.end = nil, 0, 0
	}
}

// fill reads once into the free part of the buffer. It moves undecoded bytes
// to the front when the message would not fit behind them, and grows the
// buffer only when it is full: geometrically and never beyond need, so a peer
// that announces a 1 MiB CHANNEL_DATA and sends nothing more costs memory in
// proportion to what it really sent.
func (r *Reader) fill(need int) {
	if r.start > 0 && len(r.buf)-r.start < need {
		r.end = copy(r.buf, r.buf[r.start:r.end])
		r.start = 0
	}
	if r.end == len(r.buf) {
		buf := make([]byte, max(smallBuffer, min(need, 2*len(r.buf))))
		r.end = copy(buf, r.buf[r.start:r.end])
		r.start = 0
		r.buf = buf
	}
	n, err := r.r.Read(r.buf[r.end:])
	r.end += n
	r.err = err
}
