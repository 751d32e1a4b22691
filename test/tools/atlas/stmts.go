package main

import (
	"fmt"
	"strings"
)

// splitStmts splits a PostgreSQL migration file into statements the way atlas does for its revision bookkeeping
// (emf-conventions §2.2): a statement ends at a ';' outside quotes, comments, dollar-quoted bodies and parentheses;
// comments before a statement are not part of its text; text is trimmed and keeps its ';'. A trailing statement
// without ';' counts too. `DO $$ ... $$;` bodies therefore stay one statement.
func splitStmts(src string) ([]string, error) {
	s := &splitter{src: src}
	var stmts []string
	for {
		stmt, err := s.next()
		if err != nil {
			return nil, err
		}
		if stmt == "" {
			return stmts, nil
		}
		stmts = append(stmts, stmt)
	}
}

type splitter struct {
	src string
	pos int
}

// SyntaxError reports an unterminated construct with its 1-based line and column.
type SyntaxError struct {
	Line, Col int
	Msg       string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg) }

func (s *splitter) errorAt(pos int, format string, args ...any) error {
	before := s.src[:pos]
	line := 1 + strings.Count(before, "\n")
	col := pos - strings.LastIndex(before, "\n")
	return &SyntaxError{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// next returns the next statement, or "" at the end of input.
func (s *splitter) next() (string, error) {
	if err := s.skipLeadingComments(); err != nil {
		return "", err
	}
	start, depth, parenPos := s.pos, 0, 0
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		var err error
		switch {
		case c == ';' && depth == 0:
			s.pos++
			return strings.TrimSpace(s.src[start:s.pos]), nil
		case c == '(':
			if depth == 0 {
				parenPos = s.pos
			}
			depth++
			s.pos++
		case c == ')':
			if depth == 0 {
				return "", s.errorAt(s.pos, "unexpected ')'")
			}
			depth--
			s.pos++
		case c == '\'':
			err = s.skipQuoted('\'', s.pos > 0 && (s.src[s.pos-1] == 'E' || s.src[s.pos-1] == 'e'))
		case c == '"':
			err = s.skipQuoted('"', false)
		case c == '-' && strings.HasPrefix(s.src[s.pos:], "--"):
			s.skipLineComment()
		case c == '/' && strings.HasPrefix(s.src[s.pos:], "/*"):
			err = s.skipBlockComment()
		case c == '$':
			err = s.skipDollar()
		default:
			s.pos++
		}
		if err != nil {
			return "", err
		}
	}
	if depth > 0 {
		return "", s.errorAt(parenPos, "unclosed '('")
	}
	return strings.TrimSpace(s.src[start:]), nil
}

func (s *splitter) skipSpaces() {
	for s.pos < len(s.src) && strings.IndexByte(" \t\r\n\f\v", s.src[s.pos]) >= 0 {
		s.pos++
	}
}

func (s *splitter) skipLeadingComments() error {
	for {
		s.skipSpaces()
		switch {
		case strings.HasPrefix(s.src[s.pos:], "--"):
			s.skipLineComment()
		case strings.HasPrefix(s.src[s.pos:], "/*"):
			if err := s.skipBlockComment(); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

func (s *splitter) skipLineComment() {
	if i := strings.IndexByte(s.src[s.pos:], '\n'); i >= 0 {
		s.pos += i + 1
		return
	}
	s.pos = len(s.src)
}

// skipBlockComment skips a /* */ comment; PostgreSQL nests them.
func (s *splitter) skipBlockComment() error {
	open, depth := s.pos, 0
	for s.pos < len(s.src) {
		switch {
		case strings.HasPrefix(s.src[s.pos:], "/*"):
			depth++
			s.pos += 2
		case strings.HasPrefix(s.src[s.pos:], "*/"):
			depth--
			s.pos += 2
			if depth == 0 {
				return nil
			}
		default:
			s.pos++
		}
	}
	return s.errorAt(open, "unclosed block comment")
}

// skipQuoted skips a '...' string or "..." identifier; a doubled quote is an escaped quote, and E'...' strings
// also take backslash escapes.
func (s *splitter) skipQuoted(q byte, backslash bool) error {
	open := s.pos
	s.pos++
	for s.pos < len(s.src) {
		switch c := s.src[s.pos]; {
		case c == '\\' && backslash:
			s.pos += 2
		case c == q && s.pos+1 < len(s.src) && s.src[s.pos+1] == q:
			s.pos += 2
		case c == q:
			s.pos++
			return nil
		default:
			s.pos++
		}
	}
	return s.errorAt(open, "unclosed quote %q", q)
}

// skipDollar skips a dollar-quoted body ($$...$$ or $tag$...$tag$). A '$' that does not open a tag (a positional
// parameter such as $1, or a '$' inside an identifier) is ordinary text.
func (s *splitter) skipDollar() error {
	open := s.pos
	tag, ok := dollarTag(s.src[s.pos:])
	if !ok || (s.pos > 0 && isIdentByte(s.src[s.pos-1])) {
		s.pos++
		return nil
	}
	s.pos += len(tag)
	end := strings.Index(s.src[s.pos:], tag)
	if end < 0 {
		return s.errorAt(open, "unclosed dollar-quoted string %s", tag)
	}
	s.pos += end + len(tag)
	return nil
}

// dollarTag returns the opening tag at the start of src: '$', an optional identifier not starting with a digit,
// and '$'.
func dollarTag(src string) (string, bool) {
	for i := 1; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '$':
			return src[:i+1], true
		case i == 1 && c >= '0' && c <= '9':
			return "", false
		case !isIdentByte(c):
			return "", false
		}
	}
	return "", false
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}
