package pg

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbook-dev/runbook/steps"
)

// Migrate is the `pg.migrate` action: bring a database's schema up or down
// through numbered migration files.
//
//	do:
//	  - pg.migrate: {dir: db/migrations}          # up to the newest
//	undo:
//	  - pg.migrate: {dir: db/migrations, revert: true}   # back to before the do
//	# or: {dir: ..., to: 2}   {dir: ..., down: 1}
//	# repair after a failed no-transaction migration: {dir: ..., force: 2}
//
// Files are VERSION_NAME.up.sql with an optional VERSION_NAME.down.sql
// (VERSION a positive number; gaps allowed, order by number). Each
// migration runs in its own transaction together with the update of the
// version table, so a failure leaves the database exactly at the previous
// version. A file whose first line is `-- runbook:no-transaction` runs
// statement by statement outside a transaction (CREATE INDEX
// CONCURRENTLY, ALTER SYSTEM); before it starts the version table is marked
// dirty, and only its success clears the mark. While the mark is set every
// run is refused until an operator has looked at the database and said
// which version it matches with `force: V`.
//
// The version table (default runbook_schema_version, in the current schema)
// holds one row: version, dirty, the migration last started, when. A
// session advisory lock keyed on the table's name is held for the whole
// run, so two migrators of the same database never interleave: the second
// waits up to lock_wait (default 1m) and then fails naming the holder.
//
// Why not jackc/tern's migrate package, which the module already has: it
// has the version table, per-migration transactions and an advisory lock,
// but no dirty flag (a failed no-transaction migration leaves no trace), a
// lock that waits forever and says nothing about its holder, and it runs
// every migration through text/template with sprig, so a `{{` in SQL is
// template syntax and templates can read the environment. What runbook
// needs is the few hundred lines here, tested against a real server.
type Migrate struct {
	Conn `yaml:",inline"`
	// Dir is the migrations directory in the workspace; Embedded one
	// compiled into the binary.
	Dir      string `yaml:"dir"`
	Embedded string `yaml:"embedded"`
	// Table is the version table, optionally schema-qualified.
	Table string `yaml:"table"`
	// To migrates up or down to a version; Down rolls back that many
	// migrations; Revert goes back to the version this step's do started
	// from; Force marks the database as being at a version and clears the
	// dirty flag, running nothing. None of them: up to the newest.
	To     *int64 `yaml:"to"`
	Down   int    `yaml:"down"`
	Revert bool   `yaml:"revert"`
	Force  *int64 `yaml:"force"`
	// LockWait is how long to wait for another migrator (default 1m; 0s:
	// do not wait).
	LockWait string `yaml:"lock_wait"`

	embedded fs.FS
	table    []string
	lockWait time.Duration
	valid    bool
}

const defaultVersionTable = "runbook_schema_version"

// noTxMarker, as the first line of a migration file, runs it outside a
// transaction.
const noTxMarker = "-- runbook:no-transaction"

var identPartRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate implements runbooks.Validator.
func (m *Migrate) Validate() error {
	if err := m.Conn.validate(); err != nil {
		return err
	}
	if (strings.TrimSpace(m.Dir) == "") == (strings.TrimSpace(m.Embedded) == "") {
		return errors.New("give exactly one of dir: (a directory in the workspace) or embedded: (compiled in)")
	}
	modes := 0
	if m.To != nil {
		modes++
		if *m.To < 0 {
			return fmt.Errorf("to %d: versions are 0 (nothing applied) or more", *m.To)
		}
	}
	if m.Down != 0 {
		modes++
		if m.Down < 0 {
			return fmt.Errorf("down %d: give how many migrations to roll back, 1 or more", m.Down)
		}
	}
	if m.Revert {
		modes++
	}
	if m.Force != nil {
		modes++
		if *m.Force < 0 {
			return fmt.Errorf("force %d: versions are 0 or more", *m.Force)
		}
	}
	if modes > 1 {
		return errors.New("give at most one of the keys to, down, revert and force")
	}
	table := m.Table
	if table == "" {
		table = defaultVersionTable
	}
	parts := strings.Split(table, ".")
	if len(parts) > 2 {
		return fmt.Errorf("table %q: expected TABLE or SCHEMA.TABLE", table)
	}
	for _, p := range parts {
		if !identPartRE.MatchString(p) {
			return fmt.Errorf("table %q: each part must be a plain name (letters, digits, _)", table)
		}
	}
	m.table = parts
	m.lockWait = time.Minute
	if m.LockWait != "" {
		d, err := time.ParseDuration(m.LockWait)
		if err != nil || d < 0 {
			return fmt.Errorf("lock_wait %q is not a duration (e.g. 30s, 2m, 0s)", m.LockWait)
		}
		m.lockWait = d
	}
	m.valid = true
	return nil
}

func (m *Migrate) source() string {
	if m.Embedded != "" {
		return "embedded " + m.Embedded
	}
	return m.Dir
}

func (m *Migrate) tableName() string {
	if m.Table == "" {
		return defaultVersionTable
	}
	return m.Table
}

// Describe implements steps.Action.
func (m *Migrate) Describe(env *steps.Env) string {
	if !m.valid {
		_ = m.Validate()
	}
	var what string
	switch {
	case m.Force != nil:
		what = fmt.Sprintf("mark the schema as version %d and clear the dirty flag (runs no migration)", *m.Force)
	case m.Revert:
		what = "migrate down to the version saved by this step's do"
	case m.To != nil:
		what = fmt.Sprintf("migrate up or down to version %d", *m.To)
	case m.Down > 0:
		what = fmt.Sprintf("roll back the last %d migration(s)", m.Down)
	default:
		what = "migrate up to the newest version"
	}
	s := fmt.Sprintf("%s on %s with migrations from %s; version table %s; advisory lock, waiting up to %s", what, m.show(env), m.source(), m.tableName(), m.lockWait)
	if m.Embedded != "" && m.embedded != nil {
		if ms, err := loadMigrations(m.embedded, m.Embedded); err == nil {
			names := make([]string, len(ms))
			for i, x := range ms {
				names[i] = x.name
			}
			s += "\nmigrations: " + strings.Join(names, ", ")
		}
	}
	return s
}

// migration is one numbered migration.
type migration struct {
	version      int64
	name         string // VERSION_NAME
	up, down     string
	upTx, downTx bool
	hasDown      bool
}

var migrationFileRE = regexp.MustCompile(`^(\d+)_([A-Za-z0-9][A-Za-z0-9_.-]*)\.(up|down)\.sql$`)

// loadMigrations reads VERSION_NAME.up.sql / .down.sql files of dir in
// fsys, ordered by version.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations directory %s: %w", dir, err)
	}
	byVersion := map[int64]*migration{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		sub := migrationFileRE.FindStringSubmatch(e.Name())
		if sub == nil {
			return nil, fmt.Errorf("migration file %s/%s: expected VERSION_NAME.up.sql or VERSION_NAME.down.sql", dir, e.Name())
		}
		v, err := strconv.ParseInt(sub[1], 10, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration file %s/%s: the version must be a number from 1", dir, e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s/%s: %w", dir, e.Name(), err)
		}
		name := sub[1] + "_" + sub[2]
		mg := byVersion[v]
		if mg == nil {
			mg = &migration{version: v, name: name}
			byVersion[v] = mg
		} else if mg.name != name {
			return nil, fmt.Errorf("migrations %s and %s have the same version %d: give each its own number", mg.name, name, v)
		}
		body, tx := string(b), !hasNoTxMarker(string(b))
		if !hasCode(body) {
			return nil, fmt.Errorf("migration %s/%s holds no SQL", dir, e.Name())
		}
		if _, err := splitSQL(body); err != nil {
			return nil, fmt.Errorf("migration %s/%s: %w", dir, e.Name(), err)
		}
		if sub[3] == "up" {
			mg.up, mg.upTx = body, tx
		} else {
			mg.down, mg.downTx, mg.hasDown = body, tx, true
		}
	}
	out := make([]migration, 0, len(byVersion))
	for _, mg := range byVersion {
		if mg.up == "" {
			return nil, fmt.Errorf("migration %s has a down file and no %s.up.sql", mg.name, mg.name)
		}
		out = append(out, *mg)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no migrations in %s (expected files like 0001_create_table.up.sql)", dir)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

func hasNoTxMarker(body string) bool {
	first, _, _ := strings.Cut(strings.TrimLeft(body, " \t\r\n"), "\n")
	return strings.TrimSpace(first) == noTxMarker
}

// lockKey is the advisory lock of a version table. Advisory locks are per
// database, so the same table name in two databases does not contend.
func lockKey(table string) int64 {
	h := fnv.New64a()
	h.Write([]byte("runbook pg.migrate " + table))
	return int64(h.Sum64())
}

// schemaState is the version table's row.
type schemaState struct {
	version   int64
	dirty     bool
	migration string
	updated   time.Time
}

// migrator runs migrations on one connection holding the lock.
type migrator struct {
	env   *steps.Env
	s     *session
	table string // quoted, schema-qualified
	ms    []migration
}

// savedVersion is what the do keeps for revert.
type savedVersion struct {
	Database string `json:"database"`
	Version  int64  `json:"version"`
}

// Run implements steps.Action.
func (m *Migrate) Run(ctx context.Context, env *steps.Env) error {
	if !m.valid {
		if err := m.Validate(); err != nil {
			return err
		}
	}
	ms, err := m.load(env)
	if err != nil {
		return err
	}
	s, err := m.connect(ctx, env)
	if err != nil {
		return err
	}
	defer s.close()
	db := s.conn.Config().Database
	env.Printf("connected to %s", s.endpoint)

	table, err := m.qualifiedTable(ctx, s)
	if err != nil {
		return redactedf(env, err, "version table %s on %s: %v", m.tableName(), s.endpoint, err)
	}
	release, err := m.lock(ctx, env, s, table)
	if err != nil {
		return err
	}
	defer release()
	mg := &migrator{env: env, s: s, table: table, ms: ms}
	if err := mg.ensureTable(ctx); err != nil {
		return redactedf(env, err, "create version table %s on %s: %v", table, s.endpoint, err)
	}
	st, err := mg.state(ctx)
	if err != nil {
		return redactedf(env, err, "read version table %s on %s: %v", table, s.endpoint, err)
	}
	if m.Force != nil {
		if err := mg.known(*m.Force); err != nil {
			return err
		}
		if err := mg.force(ctx, *m.Force); err != nil {
			return redactedf(env, err, "force version %d in %s on %s: %v", *m.Force, table, s.endpoint, err)
		}
		env.Printf("schema marked as version %d (was %d, dirty %t); no migration ran", *m.Force, st.version, st.dirty)
		return nil
	}
	if st.dirty {
		return fmt.Errorf("database %s is dirty: migration %s started at %s outside a transaction and did not finish, so the schema may be half-changed (version table %s says version %d, dirty). Look at what it applied, finish or undo it by hand, then record the version the schema now matches with pg.migrate force: VERSION and run again",
			db, st.migration, st.updated.UTC().Format(time.RFC3339), table, st.version)
	}
	if err := mg.known(st.version); err != nil {
		return fmt.Errorf("database %s: version table %s says version %d: %w", db, table, st.version, err)
	}
	saveFile := saveName("migrate", m.target(), m.tableName())
	target, err := m.targetVersion(env, st.version, ms, db, saveFile)
	if err != nil {
		return err
	}
	if target == nil {
		return nil
	}
	if !m.Revert && *target != st.version {
		if _, err := saveOnce(env.SaveDir, saveFile, savedVersion{Database: db, Version: st.version}); err != nil {
			return err
		}
	}
	if err := mg.migrate(ctx, st.version, *target); err != nil {
		return err
	}
	if m.Revert {
		return dropSaved(env.SaveDir, saveFile)
	}
	return nil
}

func (m *Migrate) load(env *steps.Env) ([]migration, error) {
	if m.Embedded != "" {
		if m.embedded == nil {
			return nil, fmt.Errorf("embedded migrations %s: this build has no embedded files for pg actions; use dir: with a directory in the workspace", m.Embedded)
		}
		return loadMigrations(m.embedded, m.Embedded)
	}
	dir := m.Dir
	if !filepath.IsAbs(dir) && env.Workspace != "" {
		dir = filepath.Join(env.Workspace, dir)
	}
	return loadMigrations(os.DirFS(dir), ".")
}

// targetVersion works out where to go; nil means nothing to do.
func (m *Migrate) targetVersion(env *steps.Env, cur int64, ms []migration, db, saveFile string) (*int64, error) {
	newest := ms[len(ms)-1].version
	var t int64
	switch {
	case m.Revert:
		var sv savedVersion
		ok, err := loadSaved(env.SaveDir, saveFile, &sv)
		if err != nil {
			return nil, err
		}
		if !ok {
			env.Printf("no version saved by this step's do: it changed no version, or an earlier attempt of this undo already reverted it; nothing to revert, at version %d", cur)
			return nil, nil
		}
		if sv.Database != db {
			return nil, fmt.Errorf("the saved version is for database %s, and this connects to %s: point the undo at the same database as the do", sv.Database, db)
		}
		t = sv.Version
	case m.To != nil:
		t = *m.To
	case m.Down > 0:
		i := indexOf(ms, cur)
		if i+1 < m.Down {
			return nil, fmt.Errorf("down %d: only %d migration(s) are applied (version %d)", m.Down, i+1, cur)
		}
		t = 0
		if j := i - m.Down; j >= 0 {
			t = ms[j].version
		}
	default:
		t = newest
	}
	if t != 0 && indexOf(ms, t) < 0 {
		return nil, fmt.Errorf("version %d is not one of the migrations in %s (newest is %d)", t, m.source(), newest)
	}
	if t == cur {
		env.Printf("schema is at version %d: nothing to do", cur)
		return nil, nil
	}
	return &t, nil
}

// indexOf is the position of version v in ms; -1 for 0 or unknown.
func indexOf(ms []migration, v int64) int {
	for i, x := range ms {
		if x.version == v {
			return i
		}
	}
	return -1
}

func (m *Migrate) qualifiedTable(ctx context.Context, s *session) (string, error) {
	parts := m.table
	if len(parts) == 1 {
		// Pin the current schema now: a migration may change search_path,
		// and the version table must not move with it.
		var schema *string
		if err := s.conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			return "", err
		}
		if schema == nil {
			return "", errors.New("no current schema (search_path is empty): give table: SCHEMA.TABLE")
		}
		parts = []string{*schema, parts[0]}
	}
	return pgx.Identifier(parts).Sanitize(), nil
}

// lock takes the migration lock, waiting up to lockWait; the returned
// function releases it.
//
// It waits by retrying pg_try_advisory_lock between queries, not by
// blocking in pg_advisory_lock: a session blocked in a query holds a
// snapshot, and the holder's CREATE INDEX CONCURRENTLY waits for every
// such snapshot to end, so a blocked waiter and a concurrent index build
// deadlock (PostgreSQL then kills the waiter).
func (m *Migrate) lock(ctx context.Context, env *steps.Env, s *session, table string) (func(), error) {
	key := lockKey(table)
	release := func() {
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = s.conn.Exec(rctx, "SELECT pg_advisory_unlock($1)", key)
	}
	try := func() (bool, error) {
		var got bool
		err := s.conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got)
		if err != nil {
			return false, redactedf(env, err, "take the migration lock on %s: %v", s.endpoint, err)
		}
		return got, nil
	}
	got, err := try()
	if err != nil || got {
		return release, err
	}
	db := s.conn.Config().Database
	holder := lockHolder(ctx, s, key)
	if m.lockWait > 0 {
		env.Printf("another migrator holds the lock of %s on database %s (%s): waiting up to %s", table, db, holder, m.lockWait)
		wctx, cancel := context.WithTimeout(ctx, m.lockWait)
		defer cancel()
		pause := 50 * time.Millisecond
		for {
			t := time.NewTimer(pause)
			select {
			case <-wctx.Done():
				t.Stop()
			case <-t.C:
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("wait for the migration lock of %s on database %s: %w", table, db, ctx.Err())
			}
			if got, err := try(); err != nil || got {
				if got {
					env.Printf("lock taken")
				}
				return release, err
			}
			if wctx.Err() != nil {
				break
			}
			pause = min(2*pause, time.Second)
		}
		holder = lockHolder(ctx, s, key)
	}
	return nil, fmt.Errorf("migration lock of %s on database %s is held by %s; waited %s: another runbook or migrator is working on this database. Let it finish (or stop it) and retry; lock_wait: sets how long to wait",
		table, db, holder, m.lockWait)
}

// lockHolder describes the session holding the advisory lock key, from
// pg_locks and pg_stat_activity.
func lockHolder(ctx context.Context, s *session, key int64) string {
	var (
		pid             int32
		app, user, from string
		since           time.Time
	)
	err := s.conn.QueryRow(ctx, `SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.usename::text, ''),
			coalesce(host(a.client_addr), 'a local socket'), a.backend_start
		FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
		  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND l.classid::bigint = $1 AND l.objid::bigint = $2
		LIMIT 1`, int64(uint64(key)>>32), int64(uint32(uint64(key)))).Scan(&pid, &app, &user, &from, &since)
	if err != nil {
		return "another session (its details are not visible to this user)"
	}
	if app == "" {
		app = "no application_name"
	}
	return fmt.Sprintf("pid %d (%s, user %s, from %s, connected since %s)", pid, app, user, from, since.UTC().Format(time.RFC3339))
}

func (mg *migrator) ensureTable(ctx context.Context) error {
	_, err := mg.s.conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+mg.table+` (
		singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
		version bigint NOT NULL,
		dirty boolean NOT NULL,
		migration text NOT NULL,
		updated_at timestamptz NOT NULL DEFAULT now()
	)`)
	if err != nil {
		return err
	}
	_, err = mg.s.conn.Exec(ctx, `INSERT INTO `+mg.table+` (version, dirty, migration) VALUES (0, false, '') ON CONFLICT DO NOTHING`)
	return err
}

func (mg *migrator) state(ctx context.Context) (schemaState, error) {
	var st schemaState
	err := mg.s.conn.QueryRow(ctx, `SELECT version, dirty, migration, updated_at FROM `+mg.table).Scan(&st.version, &st.dirty, &st.migration, &st.updated)
	return st, err
}

func (mg *migrator) known(v int64) error {
	if v == 0 || indexOf(mg.ms, v) >= 0 {
		return nil
	}
	return fmt.Errorf("version %d is not one of the migrations here (%s to %s)", v, mg.ms[0].name, mg.ms[len(mg.ms)-1].name)
}

func (mg *migrator) force(ctx context.Context, v int64) error {
	_, err := mg.s.conn.Exec(ctx, `UPDATE `+mg.table+` SET version = $1, dirty = false, migration = $2, updated_at = now()`, v, "force")
	return err
}

// migrate walks from cur to target, one migration at a time.
func (mg *migrator) migrate(ctx context.Context, cur, target int64) error {
	env := mg.env
	up := target > cur
	var path []migration
	if up {
		for _, x := range mg.ms {
			if x.version > cur && x.version <= target {
				path = append(path, x)
			}
		}
	} else {
		for i := len(mg.ms) - 1; i >= 0; i-- {
			x := mg.ms[i]
			if x.version <= cur && x.version > target {
				if !x.hasDown {
					return fmt.Errorf("migration %s has no down file (%s.down.sql), so it cannot be rolled back automatically: nothing was rolled back", x.name, x.name)
				}
				path = append(path, x)
			}
		}
	}
	dir := "up"
	if !up {
		dir = "down"
	}
	env.Printf("schema at version %d; migrating %s to %d (%d migration(s))", cur, dir, target, len(path))
	for _, x := range path {
		body, tx, after, file := x.up, x.upTx, x.version, x.name+".up.sql"
		if !up {
			body, tx, file = x.down, x.downTx, x.name+".down.sql"
			after = 0
			if i := indexOf(mg.ms, x.version); i > 0 {
				after = mg.ms[i-1].version
			}
		}
		mode := "in a transaction"
		if !tx {
			mode = "no transaction"
		}
		arrow := "▲"
		if !up {
			arrow = "▼"
		}
		env.Printf("%s %s (%s)", arrow, file, mode)
		if err := mg.apply(ctx, file, body, tx, cur, after); err != nil {
			return err
		}
		cur = after
		env.Printf("  now at version %d", cur)
	}
	return nil
}

// apply runs one migration file and records the new version.
func (mg *migrator) apply(ctx context.Context, file, body string, tx bool, from, to int64) error {
	env, s := mg.env, mg.s
	stmts, err := splitSQL(body)
	if err != nil {
		return fmt.Errorf("migration %s: %w", file, err)
	}
	record := `UPDATE ` + mg.table + ` SET version = $1, dirty = false, migration = $2, updated_at = now()`
	if tx {
		t, err := s.conn.Begin(ctx)
		if err != nil {
			return redactedf(env, err, "migration %s: begin on %s: %v", file, s.endpoint, err)
		}
		rollback := func() {
			rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = t.Rollback(rctx)
		}
		for i, st := range stmts {
			if _, err := t.Exec(ctx, st.SQL); err != nil {
				rollback()
				line, _, _ := lineCol(body, st.Offset, 1)
				next := "Fix the migration and run again"
				if s.conn.IsClosed() {
					// The session ended under the statement (server shut
					// down or restarted, network gone): the server aborts
					// the open transaction; the migration is not at fault.
					next = "The connection was lost, not the migration at fault: when the database answers again, retry the step"
				}
				return redactedf(env, err, "migration %s failed at statement %d (line %d) on %s: %s; it was rolled back: the schema is still at version %d, not dirty. %s",
					file, i+1, line, s.endpoint, pgErrorText(err, body, st.Offset), from, next)
			}
		}
		if _, err := t.Exec(ctx, record, to, file); err != nil {
			rollback()
			return redactedf(env, err, "migration %s: record version %d in %s: %v; rolled back, still at version %d", file, to, mg.table, err, from)
		}
		if err := t.Commit(ctx); err != nil {
			return redactedf(env, err, "migration %s: commit on %s: %v; still at version %d", file, s.endpoint, err, from)
		}
		return nil
	}
	// Outside a transaction a failure can leave some statements applied:
	// mark the table dirty first, so the next run stops until a person has
	// looked.
	if _, err := s.conn.Exec(ctx, `UPDATE `+mg.table+` SET dirty = true, migration = $1, updated_at = now()`, file); err != nil {
		return redactedf(env, err, "migration %s: mark dirty in %s: %v; nothing ran", file, mg.table, err)
	}
	for i, st := range stmts {
		if _, err := s.conn.Exec(ctx, st.SQL); err != nil {
			line, _, _ := lineCol(body, st.Offset, 1)
			return redactedf(env, err, "migration %s (no transaction) failed at statement %d of %d (line %d) on %s: %s; %d statement(s) before it stay applied and the database is marked dirty at version %d. Check what it changed, repair by hand, then run pg.migrate with force: VERSION (the version the schema now matches)",
				file, i+1, len(stmts), line, s.endpoint, pgErrorText(err, body, st.Offset), i, from)
		}
	}
	if _, err := s.conn.Exec(ctx, record, to, file); err != nil {
		return redactedf(env, err, "migration %s ran, but recording version %d in %s failed: %v; the database stays marked dirty: check it and run pg.migrate with force: %d", file, to, mg.table, err, to)
	}
	return nil
}
