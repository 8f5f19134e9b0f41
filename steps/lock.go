package steps

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// LockInfo names who holds a run.
type LockInfo struct {
	Holder string    `json:"holder"`
	Host   string    `json:"host"`
	PID    int       `json:"pid"`
	Since  time.Time `json:"since"`
}

func (l LockInfo) String() string {
	return fmt.Sprintf("%s on %s (pid %d) since %s", l.Holder, l.Host, l.PID, l.Since.Format("2006-01-02 15:04:05 MST"))
}

// LockedError says the state is held by someone else.
type LockedError struct {
	Path string
	Info LockInfo
	// Stale: the holder is gone (its pid is dead on this host) but never
	// released the lock; it may be taken over explicitly.
	Stale bool
	// Foreign: the holder is on another host; runbook cannot tell whether
	// it is alive.
	Foreign bool
}

func (e *LockedError) Error() string {
	switch {
	case e.Stale:
		return fmt.Sprintf("stale lock %s: held by %s, which is no longer running; take it over with --take-over once you are sure nobody else works on this run", e.Path, e.Info)
	case e.Foreign:
		return fmt.Sprintf("locked by %s: another host; if that session is gone, take it over with --take-over", e.Info)
	}
	return fmt.Sprintf("locked by %s: one operator at a time (lock %s)", e.Info, e.Path)
}

// Lock is a held run lock: an flock on the lock file, whose content names the
// holder for anyone who is refused.
type Lock struct {
	f    *os.File
	path string
	// Previous is the holder this lock was taken over from, when it was
	// a process on this host that died holding it (zero otherwise).
	Previous LockInfo
}

// AcquireLock takes the lock in dir for me. A live holder is refused with a
// *LockedError; a stale or foreign holder only with takeOver.
func AcquireLock(dir string, me LockInfo, takeOver bool) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		info, _ := readLockInfo(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Path: path, Info: info}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	prev, _ := readLockInfo(f)
	if prev.PID != 0 && !takeOver {
		// The flock is free, yet the previous holder never released the
		// lock: it died. Say so instead of silently taking over.
		e := &LockedError{Path: path, Info: prev}
		if prev.Host != me.Host {
			e.Foreign = true
		} else if !pidAlive(prev.PID) || prev.PID == me.PID {
			e.Stale = true
		} else {
			// Same host, pid alive but no flock: the pid was reused by
			// another program. Still stale.
			e.Stale = true
		}
		f.Close()
		return nil, e
	}
	data, _ := json.Marshal(me)
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt(append(data, '\n'), 0)
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("write lock: %w", err)
		}
	}
	l := &Lock{f: f, path: path}
	if prev.PID != 0 && prev.Host == me.Host {
		// The flock was free: the previous holder on this host is dead.
		l.Previous = prev
	}
	return l, nil
}

// ReadLock tells who holds the lock in dir, if anyone; held is false when
// the holder is gone (stale) or there is none.
func ReadLock(dir string) (info LockInfo, held bool, err error) {
	f, err := os.Open(filepath.Join(dir, "lock"))
	if errors.Is(err, os.ErrNotExist) {
		return info, false, nil
	}
	if err != nil {
		return info, false, err
	}
	defer f.Close()
	info, _ = readLockInfo(f)
	if info.PID == 0 {
		return info, false, nil
	}
	// A shared flock succeeds only when no one holds it exclusively.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return info, false, nil
	}
	return info, true, nil
}

func readLockInfo(f *os.File) (LockInfo, error) {
	var info LockInfo
	data, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<16))
	if err != nil || len(data) == 0 {
		return info, err
	}
	err = json.Unmarshal(data, &info)
	return info, err
}

func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Release empties the holder record and drops the flock. The emptied
// record is not synced to disk (other processes see it emptied at once):
// should the machine fail before the kernel writes it, the next session
// finds the record of a holder that is gone and asks for --take-over, the
// cautious side. Taking the lock syncs its record: a session that died is
// never taken over silently.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Truncate(0)
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	cerr := l.f.Close()
	l.f = nil
	if err != nil {
		return fmt.Errorf("release lock: %w", err)
	}
	return cerr
}
