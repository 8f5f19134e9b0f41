package store

import (
	"strings"
	"testing"
	"time"
)

func TestParsePayload(t *testing.T) {
	for _, c := range []struct {
		in   string
		run  string
		seq  uint64
		okay bool
	}{
		{"run-1:7", "run-1", 7, true},
		{"2026-10-24T08:00:phase1:12", "2026-10-24T08:00:phase1", 12, true},
		{"run-1", "", 0, false},
		{"run-1:x", "run-1", 0, false},
		{"run-1:-1", "run-1", 0, false},
	} {
		run, seq, ok := parsePayload(c.in)
		if ok != c.okay || (ok && (run != c.run || seq != c.seq)) {
			t.Errorf("parsePayload(%q) = %q, %d, %v; want %q, %d, %v", c.in, run, seq, ok, c.run, c.seq, c.okay)
		}
	}
}

func TestMigrationsAreNumberedInOrder(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no migrations embedded")
	}
	for i, m := range ms {
		if m.Version != i+1 || m.Name == "" || !strings.Contains(m.SQL, "runbook.") {
			t.Errorf("migration %d: version %d name %q", i, m.Version, m.Name)
		}
	}
}

func TestErrorsSayWhoAndWhat(t *testing.T) {
	since := time.Date(2026, 10, 24, 9, 30, 0, 0, time.UTC)
	for _, c := range []struct {
		err  error
		want []string
	}{
		{&FencedError{Run: "r", Epoch: 1, Current: &Lease{Holder: "bob", Host: "laptop-b", PID: 9, Since: since, Epoch: 2}},
			[]string{"taken over by bob on laptop-b", "2026-10-24T09:30:00Z", "epoch 2", "(epoch 1) is fenced"}},
		{&FencedError{Run: "r", Epoch: 1}, []string{"no lease"}},
		{&ConflictError{Run: "r", Seq: 4, StoredEpoch: 2}, []string{"record 4 differs", "epoch 2", "stop"}},
		{&GapError{Run: "r", Seq: 9, Last: 4}, []string{"record 9 is out of order", "up to 4"}},
		{&HeldError{Run: "r", Lease: Lease{Holder: "alice", Host: "a"}, Age: 3 * time.Second, Limit: time.Minute},
			[]string{"driven by alice on a", "3s ago", "once it is 1m0s old", "naming alice"}},
		{&PrivilegeError{Role: "viewer", Action: "append record 3 of run r", Write: true, Server: "permission denied for table records"},
			[]string{"role viewer may read this run but not drive or approve it: grant runbook_writer to viewer"}},
		{&PrivilegeError{Role: "nobody", Action: "list runs", Server: "permission denied for schema runbook"},
			[]string{"may not read the store: grant runbook_reader to nobody"}},
		{&SelfApprovalError{Run: "r", Step: "s", Approver: "alice"}, []string{"alice drives run r", "another operator"}},
	} {
		for _, w := range c.want {
			if !strings.Contains(c.err.Error(), w) {
				t.Errorf("%T: %q lacks %q", c.err, c.err.Error(), w)
			}
		}
	}
}

func TestLeaseDetail(t *testing.T) {
	l := leaseDetail(`{"holder":"bob","host":"b","pid":7,"since":"2026-10-24T09:30:00.123+00:00","heartbeat":"2026-10-24T09:31:00+00:00","epoch":3,"released":false}`)
	if l == nil || l.Holder != "bob" || l.PID != 7 || l.Epoch != 3 || l.Since.Minute() != 30 {
		t.Fatalf("leaseDetail = %+v", l)
	}
	if leaseDetail("{}") != nil {
		t.Fatal("an empty detail is no lease")
	}
}
