package wsman

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// scanner is the XML tokenizer of the response path: it walks AMT's answers without allocating per element, which
// encoding/xml does (names, attributes, a copy of every text). It keeps encoding/xml's reading of a document
// (local names after the first colon, entity and CDATA text, "\r\n" read as "\n", matching end tags) and is
// stricter nowhere: whatever encoding/xml decodes, it decodes the same (FuzzScannerMatchesEncodingXML).
type scanner struct {
	b       []byte
	pos     int
	open    [][]byte // qualified names of the open elements
	pending bool     // a self-closing tag's end is the next token
	text    []byte   // decoded text of the last tokText, reused
	collect []byte   // a scalar element's text (directText), reused
}

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokStart
	tokEnd
	tokText
)

// token is one step of the scan. name (tokStart, tokEnd) is the local name; text (tokText) is decoded and valid
// until the next call; off is where the token began.
type token struct {
	kind tokKind
	name []byte
	text []byte
	off  int
}

var errUnexpectedEOF = errors.New("XML syntax error: unexpected EOF")

func newScanner(b []byte) *scanner { return &scanner{b: b} }

func (s *scanner) syntax(format string, args ...any) error {
	return fmt.Errorf("XML syntax error at offset %d: %s", s.pos, fmt.Sprintf(format, args...))
}

// next returns the next start, end or text token; comments, processing instructions and directives are skipped.
// EOF with elements still open is an error.
func (s *scanner) next() (token, error) {
	if s.pending {
		s.pending = false
		return s.closeElement(s.open[len(s.open)-1], s.pos)
	}
	for s.pos < len(s.b) {
		off := s.pos
		if s.b[s.pos] != '<' {
			end := bytes.IndexByte(s.b[s.pos:], '<')
			if end < 0 {
				end = len(s.b) - s.pos
			}
			raw := s.b[s.pos : s.pos+end]
			s.pos += end
			text, err := s.decodeText(raw, false)
			if err != nil {
				return token{}, err
			}
			return token{kind: tokText, text: text, off: off}, nil
		}
		rest := s.b[s.pos:]
		switch {
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			end := bytes.Index(rest[9:], []byte("]]>"))
			if end < 0 {
				return token{}, errUnexpectedEOF
			}
			s.pos += 9 + end + 3
			text, err := s.decodeText(rest[9:9+end], true)
			if err != nil {
				return token{}, err
			}
			return token{kind: tokText, text: text, off: off}, nil
		case bytes.HasPrefix(rest, []byte("<!--")):
			end := bytes.Index(rest[4:], []byte("-->"))
			if end < 0 {
				return token{}, errUnexpectedEOF
			}
			s.pos += 4 + end + 3
		case bytes.HasPrefix(rest, []byte("<?")):
			end := bytes.Index(rest[2:], []byte("?>"))
			if end < 0 {
				return token{}, errUnexpectedEOF
			}
			s.pos += 2 + end + 2
		case bytes.HasPrefix(rest, []byte("<!")):
			if err := s.skipDirective(); err != nil {
				return token{}, err
			}
		case bytes.HasPrefix(rest, []byte("</")):
			s.pos += 2
			name := s.name()
			if len(name) == 0 {
				return token{}, s.syntax("expected element name after </")
			}
			s.space()
			if s.pos >= len(s.b) {
				return token{}, errUnexpectedEOF
			}
			if s.b[s.pos] != '>' {
				return token{}, s.syntax("invalid characters between </%s and >", name)
			}
			s.pos++
			return s.closeElement(name, off)
		default:
			return s.startTag(off)
		}
	}
	if len(s.open) > 0 {
		return token{}, errUnexpectedEOF
	}
	return token{kind: tokEOF, off: s.pos}, nil
}

func (s *scanner) closeElement(name []byte, off int) (token, error) {
	if len(s.open) == 0 {
		return token{}, s.syntax("unexpected end element </%s>", name)
	}
	// Local names only: encoding/xml also accepts another prefix bound to the same namespace.
	top := s.open[len(s.open)-1]
	if !bytes.Equal(localName(top), localName(name)) {
		return token{}, s.syntax("element <%s> closed by </%s>", top, name)
	}
	s.open = s.open[:len(s.open)-1]
	return token{kind: tokEnd, name: localName(name), off: off}, nil
}

func (s *scanner) startTag(off int) (token, error) {
	s.pos++ // '<'
	name := s.name()
	if len(name) == 0 {
		return token{}, s.syntax("expected element name after <")
	}
	for {
		s.space()
		if s.pos >= len(s.b) {
			return token{}, errUnexpectedEOF
		}
		switch s.b[s.pos] {
		case '>':
			s.pos++
			s.open = append(s.open, name)
			return token{kind: tokStart, name: localName(name), off: off}, nil
		case '/':
			s.pos++
			if s.pos >= len(s.b) {
				return token{}, errUnexpectedEOF
			}
			if s.b[s.pos] != '>' {
				return token{}, s.syntax("expected /> in element")
			}
			s.pos++
			s.open = append(s.open, name)
			s.pending = true
			return token{kind: tokStart, name: localName(name), off: off}, nil
		}
		if err := s.attribute(); err != nil {
			return token{}, err
		}
	}
}

// attribute skips one name="value" (or 'value'); AMT's attributes carry nothing we read.
func (s *scanner) attribute() error {
	if len(s.name()) == 0 {
		return s.syntax("expected attribute name in element")
	}
	s.space()
	if s.pos >= len(s.b) {
		return errUnexpectedEOF
	}
	if s.b[s.pos] != '=' {
		return s.syntax("attribute name without = in element")
	}
	s.pos++
	s.space()
	if s.pos >= len(s.b) {
		return errUnexpectedEOF
	}
	q := s.b[s.pos]
	if q != '"' && q != '\'' {
		return s.syntax("unquoted or missing attribute value in element")
	}
	end := bytes.IndexByte(s.b[s.pos+1:], q)
	if end < 0 {
		return errUnexpectedEOF
	}
	val := s.b[s.pos+1 : s.pos+1+end]
	if bytes.IndexByte(val, '<') >= 0 {
		return s.syntax("unescaped < inside quoted string")
	}
	if _, err := s.decodeText(val, false); err != nil {
		return err
	}
	s.pos += 1 + end + 1
	return nil
}

// skipDirective skips <!…> (a DOCTYPE) as encoding/xml reads it: quotes hide '>' and '<', a nested '<' opens a
// level that '>' closes, and a nested comment is skipped whole.
func (s *scanner) skipDirective() error {
	s.pos += 3 // "<!" and the byte after it, taken as it is
	depth := 0
	var quote byte
	for ; s.pos < len(s.b); s.pos++ {
		c := s.b[s.pos]
		switch {
		case quote == 0 && c == '>' && depth == 0:
			s.pos++
			return nil
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			depth--
		case c == '<':
			if bytes.HasPrefix(s.b[s.pos+1:], []byte("!--")) {
				end := bytes.Index(s.b[s.pos+4:], []byte("-->"))
				if end < 0 {
					return errUnexpectedEOF
				}
				s.pos += 4 + end + 2
				continue
			}
			depth++
		}
	}
	return errUnexpectedEOF
}

// name reads an XML name: a letter, '_' or ':' (or any non-ASCII rune), then also digits, '-' and '.'.
func (s *scanner) name() []byte {
	start := s.pos
	for s.pos < len(s.b) {
		c := s.b[s.pos]
		if c < utf8.RuneSelf {
			if !isNameByte(c, s.pos == start) {
				break
			}
			s.pos++
			continue
		}
		r, n := utf8.DecodeRune(s.b[s.pos:])
		if r == utf8.RuneError && n == 1 {
			break
		}
		s.pos += n
	}
	return s.b[start:s.pos]
}

func isNameByte(c byte, first bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == ':':
		return true
	case c >= '0' && c <= '9', c == '-', c == '.':
		return !first
	}
	return false
}

func (s *scanner) space() {
	for s.pos < len(s.b) {
		switch s.b[s.pos] {
		case ' ', '\t', '\r', '\n':
			s.pos++
		default:
			return
		}
	}
}

// localName is what follows the first colon of a qualified name, as encoding/xml reads it.
func localName(q []byte) []byte {
	if i := bytes.IndexByte(q, ':'); i > 0 && i < len(q)-1 {
		return q[i+1:]
	}
	return q
}

// decodeText resolves entities (not in CDATA), reads "\r\n" and a lone "\r" as "\n", and refuses characters XML
// does not allow. Text with nothing to change is returned as it is, without a copy.
func (s *scanner) decodeText(raw []byte, cdata bool) ([]byte, error) {
	plain := true
	for i := 0; i < len(raw); {
		c := raw[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '&' && !cdata, c == '\r':
				plain = false
			case c == '>' && !cdata && i >= 2 && raw[i-1] == ']' && raw[i-2] == ']':
				return nil, s.syntax("unescaped ]]> not in CDATA section")
			case c < 0x20 && c != '\t' && c != '\n' && c != '\r':
				return nil, s.syntax("illegal character code U+%04X", c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && n == 1 {
			return nil, s.syntax("invalid UTF-8")
		}
		if !inCharRange(r) {
			return nil, s.syntax("illegal character code %U", r)
		}
		i += n
	}
	if plain {
		return raw, nil
	}
	out := s.text[:0]
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '\r':
			out = append(out, '\n')
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
		case c == '&' && !cdata:
			end := bytes.IndexByte(raw[i:], ';')
			if end < 0 {
				return nil, s.syntax("invalid character entity &%s (no semicolon)", raw[i+1:])
			}
			r, ok := entity(raw[i+1 : i+end])
			if !ok {
				return nil, s.syntax("invalid character entity &%s;", raw[i+1:i+end])
			}
			out = utf8.AppendRune(out, r)
			i += end
		default:
			out = append(out, c)
		}
	}
	s.text = out
	return out, nil
}

func entity(name []byte) (rune, bool) {
	switch string(name) {
	case "lt":
		return '<', true
	case "gt":
		return '>', true
	case "amp":
		return '&', true
	case "apos":
		return '\'', true
	case "quot":
		return '"', true
	}
	if len(name) < 2 || name[0] != '#' {
		return 0, false
	}
	base, digits := 10, name[1:]
	if digits[0] == 'x' {
		base, digits = 16, digits[1:]
	}
	for _, c := range digits { // strconv would also take a sign or underscores
		decimal := c >= '0' && c <= '9'
		hex := base == 16 && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')
		if !decimal && !hex {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(string(digits), base, 32)
	if err != nil || n > utf8.MaxRune { // encoding/xml takes any code point here, even one XML does not allow
		return 0, false
	}
	return rune(n), true
}

// inCharRange is XML's Char production.
func inCharRange(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// children hands each child element of the element whose start was just read to start, which must consume it,
// up to the element's end; text between them is passed over.
func (s *scanner) children(start func(token) error) error {
	for {
		tok, err := s.next()
		if err != nil {
			return err
		}
		switch tok.kind {
		case tokEnd:
			return nil
		case tokEOF:
			return errUnexpectedEOF
		case tokStart:
			if err := start(tok); err != nil {
				return err
			}
		}
	}
}

// skip consumes the rest of the element whose start was just read.
func (s *scanner) skip() error {
	for depth := 1; depth > 0; {
		tok, err := s.next()
		if err != nil {
			return err
		}
		switch tok.kind {
		case tokStart:
			depth++
		case tokEnd:
			depth--
		case tokEOF:
			return errUnexpectedEOF
		}
	}
	return nil
}
