package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// errHistoryChanged: statements already applied from a partially applied file were edited since.
var errHistoryChanged = errors.New("history changed")

// executeAll runs the pending files in order, printing atlas-like progress; it stops at the first failure.
func (a *applier) executeAll(ctx context.Context, pending []migrationFile, sum sumFile, revs []revision) error {
	prev := make(map[string]revision, len(revs))
	from := "none"
	for _, r := range revs {
		prev[r.version] = r
		from = r.version
	}
	fmt.Fprintf(a.out, "Migrating to version %s from %s (%d migrations in total):\n\n",
		pending[len(pending)-1].version(), from, len(pending))
	start, stmts := time.Now(), 0
	for _, f := range pending {
		hash, ok := sum.hashOf(f.name)
		if !ok {
			return &ChecksumError{File: f.name, Reason: "has no entry in atlas.sum"}
		}
		n, err := a.execute(ctx, f, hash, prev[f.version()])
		stmts += n
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(a.out, "  -------------------------\n  -- %s\n  -- %d migrations\n  -- %d sql statements\n",
		time.Since(start).Round(time.Millisecond), len(pending), stmts)
	return nil
}

// execute applies one file in one transaction and records its revision; on failure the transaction is rolled
// back and the revision row keeps the error and the failing statement. It returns the statements executed.
func (a *applier) execute(ctx context.Context, f migrationFile, hash string, prev revision) (int, error) {
	stmts, err := splitStmts(string(f.data))
	if err != nil {
		return 0, fmt.Errorf("scan statements of %s: %w", f.name, err)
	}
	sums := statementSums(stmts)
	r := revision{version: f.version(), description: f.description(), typ: revisionExecute,
		total: len(stmts), hash: hash}
	// A revision left partially applied (by a run that did not use one transaction per file) resumes after its
	// applied statements, provided they are unchanged.
	if prev.version == r.version && prev.applied > 0 {
		if prev.applied > len(sums) || len(prev.partialHashes) < prev.applied {
			return 0, fmt.Errorf("%w: %s now has %d statements but %d were applied", errHistoryChanged,
				f.name, len(sums), prev.applied)
		}
		for i := range prev.applied {
			if strings.TrimPrefix(prev.partialHashes[i], "h1:") != sums[i] {
				return 0, fmt.Errorf("%w: statement %d of %s differs from the applied one", errHistoryChanged,
					i+1, f.name)
			}
		}
		r.applied = prev.applied
		for _, s := range sums[:prev.applied] {
			r.partialHashes = append(r.partialHashes, "h1:"+s)
		}
	}
	fmt.Fprintf(a.out, "  -- migrating version %s\n", r.version)
	start := time.Now()
	tx, err := a.conn.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin transaction for %s: %w", f.name, err)
	}
	done := r.applied
	for i := r.applied; i < len(stmts); i++ {
		fmt.Fprintf(a.out, "    -> %s\n", firstLine(stmts[i]))
		if _, err := tx.Exec(ctx, stmts[i], pgx.QueryExecModeSimpleProtocol); err != nil {
			_ = tx.Rollback(ctx)
			r.err, r.errStmt, r.executionTime = err.Error(), stmts[i], time.Since(start)
			if werr := a.writeRevision(ctx, a.conn, r); werr != nil {
				return i - done, fmt.Errorf("%w; also: %w", &StmtError{File: f.name, N: i + 1, Stmt: stmts[i], Err: err}, werr)
			}
			return i - done, &StmtError{File: f.name, N: i + 1, Stmt: stmts[i], Err: err}
		}
	}
	r.applied, r.partialHashes, r.executionTime = len(stmts), nil, time.Since(start)
	if err := a.writeRevision(ctx, tx, r); err != nil {
		_ = tx.Rollback(ctx)
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit %s: %w", f.name, err)
	}
	fmt.Fprintf(a.out, "  -- ok (%s)\n\n", r.executionTime.Round(time.Microsecond))
	return len(stmts) - done, nil
}

// firstLine shortens a statement for progress output.
func firstLine(stmt string) string {
	line, _, more := strings.Cut(stmt, "\n")
	if len(line) > 100 {
		line, more = line[:100], true
	}
	if more {
		return line + " ..."
	}
	return line
}
