package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// SQLSTATEs the store's own functions raise (see migrations/0001).
const (
	codeFenced       = "RBF01"
	codeConflict     = "RBC01"
	codeGap          = "RBG01"
	codeSelfApproval = "RBS01"
	codeNoPrivilege  = "42501" // insufficient_privilege
)

// ConflictError is a different record at a sequence the store already
// holds for the run: two drivers wrote the same run. The run must stop.
type ConflictError struct {
	Run         string
	Seq         uint64
	StoredEpoch int64 // the epoch of the driver that wrote the stored record
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("store: run %s record %d differs from the one already stored (written under lease epoch %d): another driver wrote this run; stop and compare the journals", e.Run, e.Seq, e.StoredEpoch)
}

// GapError is a record that is not the next one of its run: the store
// takes records in order only.
type GapError struct {
	Run  string
	Seq  uint64
	Last uint64 // the last sequence the store holds
}

func (e *GapError) Error() string {
	return fmt.Sprintf("store: run %s record %d is out of order: the store holds records up to %d; push the missing ones first", e.Run, e.Seq, e.Last)
}

// FencedError is a write refused because the writer's lease epoch is not
// the current one: someone else took the run over (or the lease was
// released). Current says who holds it now and since when; it is nil
// when the run has no lease at all.
type FencedError struct {
	Run     string
	Epoch   int64 // the epoch the refused write carried
	Current *Lease
}

func (e *FencedError) Error() string {
	switch {
	case e.Current == nil:
		return fmt.Sprintf("store: run %s has no lease: this driver (epoch %d) may not write it", e.Run, e.Epoch)
	case e.Current.Released:
		return fmt.Sprintf("store: run %s: the lease was released (epoch %d); this driver (epoch %d) may not write it", e.Run, e.Current.Epoch, e.Epoch)
	default:
		return fmt.Sprintf("store: run %s was taken over by %s on %s (pid %d) at %s (lease epoch %d); this driver (epoch %d) is fenced and must stop",
			e.Run, e.Current.Holder, e.Current.Host, e.Current.PID, e.Current.Since.UTC().Format(time.RFC3339), e.Current.Epoch, e.Epoch)
	}
}

// HeldError is a lease that someone else holds and that may not be taken
// (yet): Age is how old its heartbeat is, Limit the age after which a
// take-over is allowed (zero for a plain acquire).
type HeldError struct {
	Run   string
	Lease Lease
	Age   time.Duration
	Limit time.Duration
}

func (e *HeldError) Error() string {
	s := fmt.Sprintf("store: run %s is driven by %s on %s (pid %d) since %s; last heartbeat %s ago",
		e.Run, e.Lease.Holder, e.Lease.Host, e.Lease.PID, e.Lease.Since.UTC().Format(time.RFC3339), e.Age.Round(time.Second))
	if e.Limit > 0 {
		s += fmt.Sprintf(": a take-over is allowed once it is %s old, or at once by forcing it and naming %s", e.Limit, e.Lease.Holder)
	} else {
		s += ": follow it, or take it over"
	}
	return s
}

// ForceMismatchError is a forced take-over that named someone other than
// the lease's holder: forcing must name whom it displaces.
type ForceMismatchError struct {
	Run   string
	Named string
	Lease Lease
}

func (e *ForceMismatchError) Error() string {
	return fmt.Sprintf("store: forced take-over of run %s names %q, but the lease is held by %q on %s: name the current holder", e.Run, e.Named, e.Lease.Holder, e.Lease.Host)
}

// SelfApprovalError is the driver approving their own run's step.
type SelfApprovalError struct {
	Run, Step, Approver string
}

func (e *SelfApprovalError) Error() string {
	return fmt.Sprintf("store: %s drives run %s and cannot approve its step %s: another operator must approve it", e.Approver, e.Run, e.Step)
}

// PrivilegeError is the store refusing an operation for want of a grant on
// the store's PostgreSQL role. Role is the role the store was opened as.
type PrivilegeError struct {
	Role   string
	Action string // what was being done: "append a record", "approve a step", ...
	Write  bool   // the action writes (it needs runbook_writer)
	Server string // the server's own message
}

func (e *PrivilegeError) Error() string {
	if e.Write {
		return fmt.Sprintf("store: role %s may read this run but not drive or approve it: grant runbook_writer to %s (refused to %s: %s)", e.Role, e.Role, e.Action, e.Server)
	}
	return fmt.Sprintf("store: role %s may not read the store: grant runbook_reader to %s (refused to %s: %s)", e.Role, e.Role, e.Action, e.Server)
}

// leaseDetail decodes runbook.lease_json from an error's DETAIL.
func leaseDetail(detail string) *Lease {
	var j struct {
		Holder    string    `json:"holder"`
		Host      string    `json:"host"`
		PID       int       `json:"pid"`
		Since     time.Time `json:"since"`
		Heartbeat time.Time `json:"heartbeat"`
		Epoch     int64     `json:"epoch"`
		Released  bool      `json:"released"`
	}
	if json.Unmarshal([]byte(detail), &j) != nil || j.Epoch == 0 {
		return nil
	}
	return &Lease{Holder: j.Holder, Host: j.Host, PID: j.PID, Since: j.Since, Heartbeat: j.Heartbeat, Epoch: j.Epoch, Released: j.Released}
}

// translate turns the store's own SQLSTATEs and missing privileges into
// typed errors; anything else is wrapped with what was being done.
func (s *Store) translate(err error, action string, write bool, run string, seq uint64, epoch int64) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return fmt.Errorf("store: %s: %w", action, err)
	}
	switch pe.Code {
	case codeFenced:
		l := leaseDetail(pe.Detail)
		if l != nil {
			l.Run = run
		}
		return &FencedError{Run: run, Epoch: epoch, Current: l}
	case codeConflict:
		e, _ := strconv.ParseInt(pe.Detail, 10, 64)
		return &ConflictError{Run: run, Seq: seq, StoredEpoch: e}
	case codeGap:
		last, _ := strconv.ParseUint(pe.Detail, 10, 64)
		return &GapError{Run: run, Seq: seq, Last: last}
	case "23503": // foreign_key_violation: every table refers to runs
		return fmt.Errorf("store: %s: run %s is not in the store", action, run)
	case codeNoPrivilege:
		return &PrivilegeError{Role: s.role, Action: action, Write: write, Server: pe.Message}
	}
	return fmt.Errorf("store: %s: %w", action, err)
}
