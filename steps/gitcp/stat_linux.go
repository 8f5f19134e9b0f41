//go:build linux

package gitcp

import (
	"io/fs"
	"syscall"
)

// statFrom takes what the index records from a file's stat data.
func statFrom(fi fs.FileInfo) statInfo {
	st := statInfo{size: uint32(fi.Size())}
	mt := fi.ModTime()
	st.mtimeSec, st.mtimeNsec = uint32(mt.Unix()), uint32(mt.Nanosecond())
	if s, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ctimeSec, st.ctimeNsec = uint32(s.Ctim.Sec), uint32(s.Ctim.Nsec)
		st.dev, st.ino = uint32(s.Dev), uint32(s.Ino)
		st.uid, st.gid = s.Uid, s.Gid
	} else {
		st.ctimeSec, st.ctimeNsec = st.mtimeSec, st.mtimeNsec
	}
	return st
}
