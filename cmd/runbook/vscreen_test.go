package main

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// vscreen is the least of a terminal that lets a benchmark read what a
// Bubble Tea program has drawn: cursor movement, erasing, line insertion
// and deletion, character repetition; colours and modes are ignored. The
// renderer skips cells that did not change between frames, so words can
// be read only from the screen, not from the byte stream.
type vscreen struct {
	w, h   int
	cells  [][]rune
	x, y   int
	sx, sy int // saved cursor
	last   rune
}

func newVScreen(w, h int) *vscreen {
	s := &vscreen{w: w, h: h}
	s.cells = make([][]rune, h)
	for i := range s.cells {
		s.cells[i] = blankRow(w)
	}
	return s
}

func blankRow(w int) []rune { return []rune(strings.Repeat(" ", w)) }

func (s *vscreen) clamp() {
	s.x = max(0, min(s.x, s.w-1))
	s.y = max(0, min(s.y, s.h-1))
}

func (s *vscreen) scrollUp(n int) {
	for range n {
		s.cells = append(s.cells[1:], blankRow(s.w))
	}
}

// String is the screen's text, one line per row.
func (s *vscreen) String() string {
	var b strings.Builder
	for _, r := range s.cells {
		b.WriteString(strings.TrimRight(string(r), " "))
		b.WriteByte('\n')
	}
	return b.String()
}

// feed interprets data from the start; an incomplete sequence at the end
// is left for the next, longer feed.
func (s *vscreen) feed(data []byte) {
	for i := 0; i < len(data); {
		c := data[i]
		switch {
		case c == 0x1b:
			n := s.escape(data[i:])
			if n == 0 {
				return // incomplete
			}
			i += n
			continue
		case c == '\r':
			s.x = 0
		case c == '\n':
			if s.y == s.h-1 {
				s.scrollUp(1)
			} else {
				s.y++
			}
		case c == '\b':
			s.x = max(0, s.x-1)
		case c == '\t':
			s.x = min(s.w-1, (s.x/8+1)*8)
		case c < 0x20 || c == 0x7f:
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size <= 1 && !utf8.FullRune(data[i:]) {
				return
			}
			s.put(r)
			i += size
			continue
		}
		i++
	}
}

func (s *vscreen) put(r rune) {
	if s.x >= s.w {
		s.x = 0
		if s.y == s.h-1 {
			s.scrollUp(1)
		} else {
			s.y++
		}
	}
	s.cells[s.y][s.x] = r
	s.x++
	s.last = r
}

// escape interprets one escape sequence at the start of b and returns its
// length (0: incomplete).
func (s *vscreen) escape(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case '[':
		j := 2
		for j < len(b) && (b[j] < 0x40 || b[j] > 0x7e) {
			j++
		}
		if j == len(b) {
			return 0
		}
		s.csi(string(b[2:j]), b[j])
		return j + 1
	case ']', 'P', '_', '^':
		for j := 2; j < len(b); j++ {
			if b[j] == 0x07 && b[1] == ']' {
				return j + 1
			}
			if b[j] == 0x1b && j+1 < len(b) && b[j+1] == '\\' {
				return j + 2
			}
		}
		return 0
	case '(', ')', '*', '+', '#', ' ':
		if len(b) < 3 {
			return 0
		}
		return 3
	case '7':
		s.sx, s.sy = s.x, s.y
	case '8':
		s.x, s.y = s.sx, s.sy
	case 'M':
		if s.y == 0 {
			s.cells = append([][]rune{blankRow(s.w)}, s.cells[:s.h-1]...)
		} else {
			s.y--
		}
	case 'D':
		s.feed([]byte{'\n'})
	case 'E':
		s.x = 0
		s.feed([]byte{'\n'})
	}
	return 2
}

func (s *vscreen) csi(params string, final byte) {
	if params != "" && strings.ContainsAny(params[:1], "?<=>") {
		return // private modes, queries: nothing drawn
	}
	var ps []int
	for _, p := range strings.Split(params, ";") {
		n, _ := strconv.Atoi(p)
		ps = append(ps, n)
	}
	arg := func(i, def int) int {
		if i < len(ps) && ps[i] > 0 {
			return ps[i]
		}
		return def
	}
	row := s.cells[s.y]
	switch final {
	case 'H', 'f':
		s.y, s.x = arg(0, 1)-1, arg(1, 1)-1
	case 'A':
		s.y -= arg(0, 1)
	case 'B', 'e':
		s.y += arg(0, 1)
	case 'C', 'a':
		s.x += arg(0, 1)
	case 'D':
		s.x -= arg(0, 1)
	case 'E':
		s.y, s.x = s.y+arg(0, 1), 0
	case 'F':
		s.y, s.x = s.y-arg(0, 1), 0
	case 'G', '`':
		s.x = arg(0, 1) - 1
	case 'd':
		s.y = arg(0, 1) - 1
	case 'X':
		for k := s.x; k < min(s.w, s.x+arg(0, 1)); k++ {
			row[k] = ' '
		}
	case 'K':
		from, to := s.x, s.w
		switch arg(0, 0) {
		case 1:
			from, to = 0, min(s.x+1, s.w)
		case 2:
			from = 0
		}
		for k := from; k < to; k++ {
			row[k] = ' '
		}
	case 'J':
		switch arg(0, 0) {
		case 0:
			s.csi("", 'K')
			for k := s.y + 1; k < s.h; k++ {
				s.cells[k] = blankRow(s.w)
			}
		case 1:
			for k := 0; k < s.y; k++ {
				s.cells[k] = blankRow(s.w)
			}
			s.csi("1", 'K')
		default:
			for k := range s.cells {
				s.cells[k] = blankRow(s.w)
			}
		}
	case 'b':
		for range arg(0, 1) {
			s.put(s.last)
		}
	case '@':
		n := min(arg(0, 1), s.w-s.x)
		copy(row[s.x+n:], row[s.x:s.w-n])
		for k := s.x; k < s.x+n; k++ {
			row[k] = ' '
		}
	case 'P':
		n := min(arg(0, 1), s.w-s.x)
		copy(row[s.x:], row[s.x+n:])
		for k := s.w - n; k < s.w; k++ {
			row[k] = ' '
		}
	case 'L':
		for range min(arg(0, 1), s.h-s.y) {
			s.cells = append(s.cells[:s.y], append([][]rune{blankRow(s.w)}, s.cells[s.y:s.h-1]...)...)
		}
	case 'M':
		for range min(arg(0, 1), s.h-s.y) {
			s.cells = append(append(s.cells[:s.y:s.y], s.cells[s.y+1:]...), blankRow(s.w))
		}
	case 'S':
		s.scrollUp(arg(0, 1))
	case 'T':
		for range arg(0, 1) {
			s.cells = append([][]rune{blankRow(s.w)}, s.cells[:s.h-1]...)
		}
	}
	s.clamp()
}
