//go:build !linux

package gitcp

import "io/fs"

// statFrom takes what the index records from a file's stat data. Off
// Linux only size and times are portable; git then compares fewer fields
// and may rehash a file once, which is correct, only slower.
func statFrom(fi fs.FileInfo) statInfo {
	st := statInfo{size: uint32(fi.Size())}
	mt := fi.ModTime()
	st.mtimeSec, st.mtimeNsec = uint32(mt.Unix()), uint32(mt.Nanosecond())
	st.ctimeSec, st.ctimeNsec = st.mtimeSec, st.mtimeNsec
	return st
}
