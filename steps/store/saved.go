package store

import (
	"context"
	"fmt"
)

// SavedFile is one file a step's do saved for its undo, as the store
// keeps it: its path under the step's save directory (slash-separated)
// and its bytes. Saved files may be secret: only runbook_writer reads
// them.
type SavedFile struct {
	Step string
	Name string
	Data []byte
}

// PutSaved replaces what the store keeps of step's save directory in run
// with files (none: the step keeps nothing now), under lease epoch: a
// stale epoch is a *FencedError, like Append. A role that may only read
// gets a *PrivilegeError.
func (s *Store) PutSaved(ctx context.Context, run string, epoch int64, step string, files []SavedFile) error {
	names := make([]string, 0, len(files))
	data := make([][]byte, 0, len(files))
	for _, f := range files {
		if f.Name == "" {
			return fmt.Errorf("store: run %s step %s: a saved file has no name", run, step)
		}
		names = append(names, f.Name)
		data = append(data, f.Data)
	}
	_, err := s.pool.Exec(ctx, `SELECT runbook.put_saved($1, $2, $3, $4, $5)`, run, epoch, step, names, data)
	if err != nil {
		return s.translate(err, fmt.Sprintf("keep the saved files of step %s of run %s", step, run), true, run, 0, epoch)
	}
	return nil
}

// Saved reads every saved file of run, by step and name.
func (s *Store) Saved(ctx context.Context, run string) ([]SavedFile, error) {
	rows, err := s.pool.Query(ctx, `SELECT step, name, data FROM runbook.saved WHERE run = $1 ORDER BY step, name`, run)
	if err != nil {
		return nil, s.translate(err, "read the saved files of run "+run, true, run, 0, 0)
	}
	defer rows.Close()
	var out []SavedFile
	for rows.Next() {
		var f SavedFile
		if err := rows.Scan(&f.Step, &f.Name, &f.Data); err != nil {
			return nil, s.translate(err, "read the saved files of run "+run, true, run, 0, 0)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, s.translate(err, "read the saved files of run "+run, true, run, 0, 0)
	}
	return out, nil
}
