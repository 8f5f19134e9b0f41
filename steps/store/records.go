package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Record is one journal record as the store holds it: the local journal's
// checksummed line, as opaque bytes, at its sequence.
type Record struct {
	Run    string
	Seq    uint64
	Epoch  int64 // the lease epoch of the driver that wrote it
	Data   []byte
	Stored time.Time
}

// Append stores record as run's record seq, written under lease epoch.
// The database decides everything in one statement (runbook.append): the
// same record again is a no-op (added=false); a different record at a
// known sequence is a *ConflictError; a sequence that is not the next is
// a *GapError; an epoch that is not the lease's is a *FencedError naming
// who holds the run now. A role that may only read gets a *PrivilegeError.
func (s *Store) Append(ctx context.Context, run string, seq uint64, epoch int64, record []byte) (added bool, err error) {
	if seq == 0 || seq > 1<<62 {
		return false, fmt.Errorf("store: run %s: record sequence %d is out of range", run, seq)
	}
	err = s.pool.QueryRow(ctx, `SELECT runbook.append($1, $2, $3, $4)`, run, int64(seq), epoch, record).Scan(&added)
	if err != nil {
		return false, s.translate(err, fmt.Sprintf("append record %d of run %s", seq, run), true, run, seq, epoch)
	}
	return added, nil
}

// Records reads run's records after sequence after, in order, at most
// limit of them (limit <= 0: all).
func (s *Store) Records(ctx context.Context, run string, after uint64, limit int) ([]Record, error) {
	return readRecords(ctx, s.pool, run, after, limit, func(err error) error {
		return s.translate(err, "read the records of run "+run, false, run, 0, 0)
	})
}

// querier is what reading needs of a pool or of a follower's connection.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func readRecords(ctx context.Context, q querier, run string, after uint64, limit int, wrap func(error) error) ([]Record, error) {
	sql := `SELECT seq, epoch, record, stored FROM runbook.records WHERE run = $1 AND seq > $2 ORDER BY seq`
	args := []any{run, int64(after)}
	if limit > 0 {
		sql += ` LIMIT $3`
		args = append(args, limit)
	}
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		r := Record{Run: run}
		var seq int64
		if err := rows.Scan(&seq, &r.Epoch, &r.Data, &r.Stored); err != nil {
			return nil, wrap(err)
		}
		r.Seq = uint64(seq)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err)
	}
	return out, nil
}
