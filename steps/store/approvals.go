package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Approval is one operator's approval of one step of a run.
type Approval struct {
	Run      string
	Step     string
	Approver string // the operator's name: recorded, not authenticated
	Host     string
	At       time.Time
	Reason   string
}

// Approve records a's approval (At is the database's clock). The run's
// driver (the lease holder) cannot approve their own step: that is a
// *SelfApprovalError, decided by the database. Approving twice is a no-op
// (added=false). A role that may only read gets a *PrivilegeError.
func (s *Store) Approve(ctx context.Context, a Approval) (added bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT runbook.approve($1, $2, $3, $4, $5)`,
		a.Run, a.Step, a.Approver, a.Host, a.Reason).Scan(&added)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == codeSelfApproval {
		return false, &SelfApprovalError{Run: a.Run, Step: a.Step, Approver: a.Approver}
	}
	if err != nil {
		return false, s.translate(err, fmt.Sprintf("approve step %s of run %s", a.Step, a.Run), true, a.Run, 0, 0)
	}
	return added, nil
}

// Approvals lists a run's approvals in the order they were given; step
// "" lists every step's.
func (s *Store) Approvals(ctx context.Context, run, step string) ([]Approval, error) {
	return listApprovals(ctx, s.pool, run, step, func(err error) error {
		return s.translate(err, "list the approvals of run "+run, false, run, 0, 0)
	})
}

func listApprovals(ctx context.Context, q querier, run, step string, wrap func(error) error) ([]Approval, error) {
	rows, err := q.Query(ctx, `SELECT step, approver, host, at, reason FROM runbook.approvals
		WHERE run = $1 AND ($2 = '' OR step = $2) ORDER BY at, approver`, run, step)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []Approval
	for rows.Next() {
		a := Approval{Run: run}
		if err := rows.Scan(&a.Step, &a.Approver, &a.Host, &a.At, &a.Reason); err != nil {
			return nil, wrap(err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err)
	}
	return out, nil
}

// WaitApprovals returns step's approvals once there are at least need of
// them, waking on ApprovalsChannel (no polling). It returns ctx's error
// when ctx ends first (the driver bounds nothing here: a step waits for
// its approval as long as the operator lets it), and the connection's
// error if it is lost (call again: approvals are never lost, they are
// rows).
func (s *Store) WaitApprovals(ctx context.Context, run, step string, need int) ([]Approval, error) {
	conn, err := s.listenConn(ctx, ApprovalsChannel)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	wrap := func(err error) error {
		return s.translate(err, fmt.Sprintf("wait for approvals of step %s of run %s", step, run), false, run, 0, 0)
	}
	for {
		as, err := listApprovals(ctx, conn, run, step, wrap)
		if err != nil {
			return nil, err
		}
		if len(as) >= need {
			return as, nil
		}
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				return nil, wrap(err)
			}
			if n.Payload == run+":"+step {
				break
			}
		}
	}
}
