package steps

import "fmt"

// Status is where one step stands.
type Status uint8

// Step statuses. Terminal ones are Succeeded, Skipped and Undone; Failed and
// Dirty wait for the operator.
const (
	Pending Status = iota
	Running
	Verifying
	AwaitingOperator
	Succeeded
	Failed
	Skipped
	Undoing
	Undone
	// Dirty: the start of work is journaled and its outcome is not (the
	// process died). Never re-run blindly: the operator picks verify, retry,
	// mark done or undo.
	Dirty
	numStatuses
)

var statusNames = [numStatuses]string{
	Pending:          "pending",
	Running:          "running",
	Verifying:        "verifying",
	AwaitingOperator: "awaiting operator",
	Succeeded:        "succeeded",
	Failed:           "failed",
	Skipped:          "skipped",
	Undoing:          "undoing",
	Undone:           "undone",
	Dirty:            "dirty",
}

func (s Status) String() string {
	if s < numStatuses {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", s)
}

// Statuses lists every status, for exhaustive tests and legends.
func Statuses() []Status {
	out := make([]Status, numStatuses)
	for i := range out {
		out[i] = Status(i)
	}
	return out
}

// Busy reports whether work of the step is in flight.
func (s Status) Busy() bool { return s == Running || s == Verifying || s == Undoing }

// Done reports whether the step no longer counts against the remaining work.
func (s Status) Done() bool { return s == Succeeded || s == Skipped }

// MarshalText writes the status name (for --json output).
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a status name written by MarshalText.
func (s *Status) UnmarshalText(b []byte) error {
	for i, n := range statusNames {
		if n == string(b) {
			*s = Status(i)
			return nil
		}
	}
	return fmt.Errorf("unknown step status %q", b)
}
