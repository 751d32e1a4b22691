package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
)

// sumFileName is atlas' integrity file in the migration directory.
const sumFileName = "atlas.sum"

// migrationFile is one `<version>_<description>.sql` file of the directory.
type migrationFile struct {
	name string
	data []byte
}

// version is the text before the first '_' (emf-conventions §2.2).
func (f migrationFile) version() string {
	v, _, _ := strings.Cut(strings.TrimSuffix(f.name, ".sql"), "_")
	return v
}

// description is the rest of the name without ".sql".
func (f migrationFile) description() string {
	_, d, _ := strings.Cut(strings.TrimSuffix(f.name, ".sql"), "_")
	return d
}

// readDir returns the directory's *.sql files sorted by name, as atlas orders them.
func readDir(dir string) ([]migrationFile, error) {
	fsys := os.DirFS(dir)
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migration files in %s: %w", dir, err)
	}
	sort.Strings(names)
	files := make([]migrationFile, 0, len(names))
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("read migration file %s: %w", n, err)
		}
		files = append(files, migrationFile{name: n, data: b})
	}
	return files, nil
}

// sumEntry is one "<file> h1:<hash>" line.
type sumEntry struct{ name, hash string }

// sumFile is the content of atlas.sum: the directory hash line and one line per file.
type sumFile []sumEntry

// computeSum hashes the files as atlas does: one running SHA-256 over every file's name followed by its content,
// and each file's entry is the running digest after it, so editing a file changes its hash and all later ones.
func computeSum(files []migrationFile) sumFile {
	h := sha256.New()
	sum := make(sumFile, 0, len(files))
	for _, f := range files {
		h.Write([]byte(f.name))
		h.Write(f.data)
		sum = append(sum, sumEntry{name: f.name, hash: base64.StdEncoding.EncodeToString(h.Sum(nil))})
	}
	return sum
}

// dirHash is SHA-256 over each entry's name followed by its base64 hash text.
func (s sumFile) dirHash() string {
	h := sha256.New()
	for _, e := range s {
		h.Write([]byte(e.name))
		h.Write([]byte(e.hash))
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// hashOf returns the recorded hash of a file (without "h1:").
func (s sumFile) hashOf(name string) (string, bool) {
	for _, e := range s {
		if e.name == name {
			return e.hash, true
		}
	}
	return "", false
}

// marshal renders atlas.sum text.
func (s sumFile) marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "h1:%s\n", s.dirHash())
	for _, e := range s {
		fmt.Fprintf(&b, "%s h1:%s\n", e.name, e.hash)
	}
	return b.Bytes()
}

// ErrChecksum is the class of every atlas.sum problem; errors.Is(err, ErrChecksum) holds for them.
var ErrChecksum = errors.New("checksum mismatch")

// ChecksumError names the first file whose hash differs from atlas.sum.
type ChecksumError struct {
	File   string
	Reason string // "edited", "added", "removed", or a description of a corrupt atlas.sum
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("%v: %s %s (atlas.sum is out of date with the migration directory; "+
		"restore the file or regenerate atlas.sum)", ErrChecksum, e.File, e.Reason)
}

func (e *ChecksumError) Is(target error) bool { return target == ErrChecksum }

// parseSum reads atlas.sum text and checks that its first line matches its own entries.
func parseSum(b []byte) (sumFile, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	if !sc.Scan() {
		return nil, &ChecksumError{File: sumFileName, Reason: "is empty"}
	}
	recorded, ok := strings.CutPrefix(sc.Text(), "h1:")
	if !ok {
		return nil, &ChecksumError{File: sumFileName, Reason: "first line is not h1:<hash>"}
	}
	var sum sumFile
	for line := 2; sc.Scan(); line++ {
		name, hash, ok := strings.Cut(sc.Text(), "h1:")
		if !ok {
			return nil, &ChecksumError{File: sumFileName, Reason: fmt.Sprintf("line %d is not <file> h1:<hash>", line)}
		}
		sum = append(sum, sumEntry{name: strings.TrimSpace(name), hash: hash})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", sumFileName, err)
	}
	if sum.dirHash() != recorded {
		return nil, &ChecksumError{File: sumFileName, Reason: "directory hash does not match its entries"}
	}
	return sum, nil
}

// validate checks atlas.sum in dir against the files; it returns the parsed sum for revision hashes.
func validate(dir string, files []migrationFile) (sumFile, error) {
	b, err := fs.ReadFile(os.DirFS(dir), sumFileName)
	if errors.Is(err, fs.ErrNotExist) {
		if len(files) == 0 {
			return nil, nil
		}
		return nil, &ChecksumError{File: sumFileName, Reason: "not found"}
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", sumFileName, err)
	}
	recorded, err := parseSum(b)
	if err != nil {
		return nil, err
	}
	actual := computeSum(files)
	if recorded.dirHash() == actual.dirHash() {
		return recorded, nil
	}
	for i, r := range recorded {
		if i < len(actual) && actual[i] == r {
			continue
		}
		idx := -1
		for j, a := range actual {
			if a.name == r.name {
				idx = j
			}
		}
		switch {
		case idx < 0 || i >= len(actual):
			return nil, &ChecksumError{File: r.name, Reason: "removed"}
		case idx == i:
			return nil, &ChecksumError{File: r.name, Reason: "edited"}
		default:
			return nil, &ChecksumError{File: actual[i].name, Reason: "added"}
		}
	}
	return nil, &ChecksumError{File: actual[len(recorded)].name, Reason: "added"}
}
