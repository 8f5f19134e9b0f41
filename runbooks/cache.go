package runbooks

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"time"

	"github.com/goccy/go-yaml"
)

// Cache keeps validated runbooks between processes, so a command that
// reads an unchanged runbook does not parse and check its YAML again
// (LoadOptions.Cache); the engine keeps its journal fold snapshots in the
// same kind of store (steps.ReadRunCached). Get returns what Put stored
// for slot, or nil; both are advisory: an entry that cannot be read, is
// not this runbook's or does not decode is ignored and the runbook is
// loaded from its source, and a Put that fails is only a missed saving.
type Cache interface {
	Get(slot string) []byte
	Put(slot string, data []byte)
}

// CacheKeyer is implemented by a Cache whose entries must also change
// with something the loader cannot see (the binary that reads them: its
// action types and their parameter structs).
type CacheKeyer interface {
	CacheKey() string
}

// cacheFormat names the encoding below; it changes whenever the encoding
// does (a new binary never reads an old entry anyway: see CacheKeyer).
const cacheFormat = "runbook-load-cache/3"

// cacheEntry is one cached runbook. Key is the digest of everything the
// result depends on: the cache's own key, the file's name and bytes, and
// where its guides come from; Guides are the digests of the guide files
// the loader read, checked on every read of the entry.
//
// On disk an entry is lines: the digest of the rest; the entry as JSON
// without the actions' parameters; then one line per action, in the
// runbook's order (phases, steps, do, verify, undo), with its parameters
// as JSON (empty when the entry keeps them as YAML). Compact JSON holds no
// newline. The parameters are most of an entry's bytes; on lines of their
// own they are read once, by their own type's decoder, instead of being
// scanned as part of the entry first.
type cacheEntry struct {
	Format string
	Key    string
	Guides []cachedGuide
	RB     cachedRunbook
}

type cachedGuide struct {
	File   string
	SHA256 string
}

// cachedRunbook is Runbook as an entry keeps it: every field but Guides
// (made again from GuidesDir), with Schedule's location by name
// (TestCacheEntryKnowsEveryRunbookField).
type cachedRunbook struct {
	ID, Title   string
	Date        string
	Location    string
	Start       time.Time
	Targets     []Target
	Phases      []cachedPhase
	Score       *ScoreModel
	Checkpoints Checkpoints
	Notify      []Webhook
	Source      string
	Digest      string
	GuidesDir   string
}

// cachedPhase and cachedStep are the model's own types with the actions
// replaced (their parameters are typed values behind an interface); the
// outer fields hide the embedded ones of the same name.
type cachedPhase struct {
	Phase
	Steps []cachedStep
}

type cachedStep struct {
	Step
	Do, Verify, Undo []cachedAction
}

type cachedAction struct {
	Type, Name string
	// Params are the parameters as JSON (on a line of their own, see
	// cacheEntry), or YAML when JSON would not bring them back as they
	// were (a number in a field of any type).
	Params json.RawMessage `json:"-"`
	YAML   string          `json:",omitempty"`
	Pos    Pos
}

// loadCached is Load for a source already read, through opt.Cache.
func loadCached(src []byte, fsys fs.FS, name string, opt LoadOptions) (*Runbook, error) {
	slot, key := cacheKey(src, name, opt)
	if rb := decodeCache(opt.Cache.Get(slot), key, fsys, name, opt); rb != nil {
		return rb, nil
	}
	rb, err := Parse(src, name, fsys, opt)
	if err != nil {
		// Faults are never cached: the next load reports them again.
		return nil, err
	}
	if data, ok := encodeCache(rb, key, fsys, name, opt); ok {
		opt.Cache.Put(slot, data)
	}
	return rb, nil
}

// cacheKey returns the slot (one per runbook file and guide source, so
// an edited runbook replaces its old entry) and the key of this content.
func cacheKey(src []byte, name string, opt LoadOptions) (slot, key string) {
	var extra string
	if k, ok := opt.Cache.(CacheKeyer); ok {
		extra = k.CacheKey()
	}
	guides := "beside"
	if opt.Guides != nil {
		guides = "given"
	}
	s := sha256.Sum256([]byte(cacheFormat + "\x00" + name + "\x00" + guides))
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%d\x00", cacheFormat, extra, name, guides, len(src))
	h.Write(src)
	return hex.EncodeToString(s[:12]), hex.EncodeToString(h.Sum(nil))
}

// guidesOf is where a runbook's guides resolve, as Parse sets it.
func guidesOf(fsys fs.FS, dir string, opt LoadOptions) fs.FS {
	if opt.Guides != nil {
		return opt.Guides
	}
	if fsys == nil || dir == "" {
		return nil
	}
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		return nil
	}
	return sub
}

func encodeCache(rb *Runbook, key string, fsys fs.FS, name string, opt LoadOptions) ([]byte, bool) {
	e := cacheEntry{Format: cacheFormat, Key: key, RB: cachedRunbook{
		ID: rb.ID, Title: rb.Title, Date: rb.Schedule.Date, Start: rb.Schedule.Start,
		Targets: rb.Targets, Score: rb.Score, Checkpoints: rb.Checkpoints, Notify: rb.Notify,
		Source: rb.Source, Digest: rb.Digest, GuidesDir: rb.guidesDir,
	}}
	if rb.Schedule.Location != nil {
		e.RB.Location = rb.Schedule.Location.String()
	}
	actions := func(as []Action) ([]cachedAction, bool) {
		if as == nil {
			return nil, true
		}
		out := make([]cachedAction, 0, len(as))
		for _, a := range as {
			ca := cachedAction{Type: a.Type, Name: a.Name, Pos: a.Pos}
			p, err := json.Marshal(a.Params)
			if err != nil {
				return nil, false
			}
			ca.Params = p
			if back, ok := decodeParams(ca, opt.Actions); !ok || !reflect.DeepEqual(back, a.Params) {
				y, err := yaml.MarshalWithOptions(a.Params, yaml.OmitEmpty())
				if err != nil {
					return nil, false
				}
				ca.Params, ca.YAML = nil, string(y)
			}
			out = append(out, ca)
		}
		return out, true
	}
	// The guide files are read again here, and their anchors checked
	// against the steps once more, so the digests stored are of the
	// content that was found valid (a guide edited during the load is not
	// cached as valid).
	anchors := map[string]map[string]bool{}
	for _, p := range rb.Phases {
		cp := cachedPhase{Phase: p}
		cp.Phase.Steps = nil
		if p.Steps != nil {
			cp.Steps = make([]cachedStep, 0, len(p.Steps))
		}
		for _, s := range p.Steps {
			cs := cachedStep{Step: s}
			cs.Step.Do, cs.Step.Verify, cs.Step.Undo = nil, nil, nil
			var ok1, ok2, ok3 bool
			cs.Do, ok1 = actions(s.Do)
			cs.Verify, ok2 = actions(s.Verify)
			cs.Undo, ok3 = actions(s.Undo)
			if !ok1 || !ok2 || !ok3 {
				return nil, false
			}
			cp.Steps = append(cp.Steps, cs)
			if g := s.Guide; rb.Guides != nil && path.Ext(g.File) == ".md" {
				set, seen := anchors[g.File]
				if !seen {
					src, err := fs.ReadFile(rb.Guides, g.File)
					if err != nil {
						return nil, false
					}
					sum := sha256.Sum256(src)
					e.Guides = append(e.Guides, cachedGuide{File: g.File, SHA256: hex.EncodeToString(sum[:])})
					set = map[string]bool{}
					for _, h := range Headings(src) {
						set[h.Anchor] = true
					}
					anchors[g.File] = set
				}
				if g.Anchor != "" && !set[g.Anchor] {
					return nil, false
				}
			}
		}
		e.RB.Phases = append(e.RB.Phases, cp)
	}
	head, err := json.Marshal(e)
	if err != nil {
		return nil, false
	}
	body := bytes.NewBuffer(head)
	for _, p := range e.RB.Phases {
		for _, s := range p.Steps {
			for _, as := range [][]cachedAction{s.Do, s.Verify, s.Undo} {
				for _, a := range as {
					body.WriteByte('\n')
					body.Write(a.Params)
				}
			}
		}
	}
	// The entry starts with the digest of the rest, so a file cut short or
	// damaged on disk is recognised before it is decoded.
	sum := sha256.Sum256(body.Bytes())
	data := append([]byte(hex.EncodeToString(sum[:])+"\n"), body.Bytes()...)
	// An entry is written only when it reads back as the very runbook
	// the loader made: a parameter type that does not survive the
	// encoding (unexported state) keeps its runbook out of the cache.
	back := decodeCache(data, key, fsys, name, opt)
	if back == nil || !sameRunbook(back, rb) {
		return nil, false
	}
	return data, true
}

// sameRunbook compares two runbooks in everything but Guides (a file
// system, compared by where it comes from).
func sameRunbook(a, b *Runbook) bool {
	x, y := *a, *b
	x.Guides, y.Guides = nil, nil
	return reflect.DeepEqual(x, y)
}

// decodeCache returns the runbook data holds when it is a well-formed
// entry for key whose guide files are unchanged, else nil.
func decodeCache(data []byte, key string, fsys fs.FS, name string, opt LoadOptions) *Runbook {
	sumHex, body, ok := bytes.Cut(data, []byte("\n"))
	if !ok {
		return nil
	}
	if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != string(sumHex) {
		return nil
	}
	head, params, _ := bytes.Cut(body, []byte("\n"))
	var e cacheEntry
	dec := json.NewDecoder(bytes.NewReader(head))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Format != cacheFormat || e.Key != key || e.RB.Source != name {
		return nil
	}
	c := e.RB
	rb := &Runbook{ID: c.ID, Title: c.Title, Targets: c.Targets, Score: c.Score, Checkpoints: c.Checkpoints,
		Notify: c.Notify, Source: c.Source, Digest: c.Digest, guidesDir: c.GuidesDir}
	loc := time.UTC
	if c.Location != "" && c.Location != "UTC" {
		l, err := time.LoadLocation(c.Location)
		if err != nil {
			return nil
		}
		loc = l
	}
	// Times are stored with the offset they had when the runbook was
	// loaded; time zone rules that changed since (a tzdata update) give
	// another offset, and the runbook is loaded afresh.
	zoneChanged := false
	in := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		_, was := t.Zone()
		t = t.In(loc)
		if _, is := t.Zone(); is != was {
			zoneChanged = true
		}
		return t
	}
	rb.Schedule = Schedule{Date: c.Date, Location: loc, Start: in(c.Start)}
	rb.Guides = guidesOf(fsys, c.GuidesDir, opt)
	if len(e.Guides) > 0 && rb.Guides == nil {
		return nil
	}
	for _, g := range e.Guides {
		src, err := fs.ReadFile(rb.Guides, g.File)
		if err != nil {
			return nil
		}
		if sum := sha256.Sum256(src); hex.EncodeToString(sum[:]) != g.SHA256 {
			return nil
		}
	}
	actions := func(cs []cachedAction) ([]Action, bool) {
		if cs == nil {
			return nil, true
		}
		out := make([]Action, 0, len(cs))
		for _, c := range cs {
			if params == nil {
				return nil, false // fewer lines than actions
			}
			var line []byte
			line, params, _ = bytes.Cut(params, []byte("\n"))
			if c.YAML == "" {
				c.Params = line
			} else if len(line) > 0 {
				return nil, false
			}
			p, ok := decodeParams(c, opt.Actions)
			if !ok {
				return nil, false
			}
			out = append(out, Action{Type: c.Type, Name: c.Name, Params: p, Pos: c.Pos})
		}
		return out, true
	}
	for _, cp := range c.Phases {
		p := cp.Phase
		p.SlotStart, p.SlotEnd, p.Steps = in(p.SlotStart), in(p.SlotEnd), nil
		if cp.Steps != nil {
			p.Steps = make([]Step, 0, len(cp.Steps))
		}
		for _, cs := range cp.Steps {
			s := cs.Step
			var ok1, ok2, ok3 bool
			s.Do, ok1 = actions(cs.Do)
			s.Verify, ok2 = actions(cs.Verify)
			s.Undo, ok3 = actions(cs.Undo)
			if !ok1 || !ok2 || !ok3 {
				return nil
			}
			p.Steps = append(p.Steps, s)
		}
		rb.Phases = append(rb.Phases, p)
	}
	if zoneChanged || params != nil {
		return nil // or more lines than actions
	}
	return rb
}

// decodeParams makes an action's parameters from their cached form.
func decodeParams(c cachedAction, types ActionTypes) (any, bool) {
	p, ok := types.NewParams(c.Type)
	if !ok {
		return nil, false
	}
	if c.YAML != "" {
		if err := yaml.UnmarshalWithOptions([]byte(c.YAML), p, yaml.Strict(), yaml.DisallowUnknownField()); err != nil {
			return nil, false
		}
	} else if err := json.Unmarshal(c.Params, p); err != nil {
		return nil, false
	}
	// What Validate derives (parsed durations, compiled patterns) is not
	// in the entry: it is derived again here.
	if val, ok := p.(Validator); ok {
		if err := val.Validate(); err != nil {
			return nil, false
		}
	}
	return p, true
}
