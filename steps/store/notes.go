package store

import (
	"context"
	"fmt"
	"time"
)

// Note is a follower's note on a run, for the driver to journal.
type Note struct {
	ID   uint64 // increasing within the store
	Run  string
	Step string // the step it is about; "" : whichever the run is at
	By   string // the operator's name: recorded, not authenticated
	Host string
	At   time.Time // the database's clock
	Text string
}

// MaxNoteLen bounds a note's text (the schema refuses longer ones).
const MaxNoteLen = 4000

// AddNote adds n to its run (At is the database's clock) and wakes the
// driver (NotesChannel). It returns the note's id. A role that may only
// read gets a *PrivilegeError.
func (s *Store) AddNote(ctx context.Context, n Note) (uint64, error) {
	if n.Text == "" || len(n.Text) > MaxNoteLen || n.By == "" {
		return 0, fmt.Errorf("store: a note needs an author and 1 to %d bytes of text", MaxNoteLen)
	}
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT runbook.add_note($1, $2, $3, $4, $5)`, n.Run, n.Step, n.By, n.Host, n.Text).Scan(&id)
	if err != nil {
		return 0, s.translate(err, "add a note to run "+n.Run, true, n.Run, 0, 0)
	}
	return uint64(id), nil
}

// Notes lists run's notes after id after, in order.
func (s *Store) Notes(ctx context.Context, run string, after uint64) ([]Note, error) {
	return listNotes(ctx, s.pool, run, after, func(err error) error {
		return s.translate(err, "list the notes of run "+run, false, run, 0, 0)
	})
}

func listNotes(ctx context.Context, q querier, run string, after uint64, wrap func(error) error) ([]Note, error) {
	rows, err := q.Query(ctx, `SELECT id, step, author, host, at, text FROM runbook.notes
		WHERE run = $1 AND id > $2 ORDER BY id`, run, int64(after))
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []Note
	for rows.Next() {
		n := Note{Run: run}
		var id int64
		if err := rows.Scan(&id, &n.Step, &n.By, &n.Host, &n.At, &n.Text); err != nil {
			return nil, wrap(err)
		}
		n.ID = uint64(id)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err)
	}
	return out, nil
}

// WaitNotes returns run's notes after id after once there is at least one,
// waking on NotesChannel (no polling). It returns ctx's error when ctx ends
// first, and the connection's error if it is lost (call again: notes are
// rows, never lost).
func (s *Store) WaitNotes(ctx context.Context, run string, after uint64) ([]Note, error) {
	conn, err := s.listenConn(ctx, NotesChannel)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	wrap := func(err error) error {
		return s.translate(err, "wait for notes on run "+run, false, run, 0, 0)
	}
	for {
		ns, err := listNotes(ctx, conn, run, after, wrap)
		if err != nil {
			return nil, err
		}
		if len(ns) > 0 {
			return ns, nil
		}
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, wrap(err)
			}
			if len(n.Payload) > len(run) && n.Payload[:len(run)+1] == run+":" {
				break
			}
		}
	}
}
