package xlsim

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Call is one invocation of the simulator, from $XLSIM_DIR/calls.log.
type Call struct {
	ID    string    // "<pid>-<n>"
	Prog  string    // "xl" or "xenstore-read"
	Args  []string  // the arguments after the program name
	Begin time.Time // when it started
	End   time.Time // when it exited (zero if it has not, or was killed)
	RC    int       // its exit code, if Ended
	Ended bool
}

// Event is one thing that happened to a domain, from $XLSIM_DIR/events.log.
type Event struct {
	T      time.Time `json:"t"` // when it happened (the logical time)
	Domain string    `json:"domain"`
	Domid  int       `json:"domid"`
	// Ev is one of created, booted, shutdown-requested, shutdown, gone,
	// destroyed, crashed, rebooted, saved, restored, migrated, received
	// (the copy a migration to this same host runs on here).
	Ev string `json:"ev"`
	// PrevDomid is, for "rebooted", the domid the guest had before.
	PrevDomid int `json:"prev_domid,omitempty"`
	// Host is, for "migrated", where the guest went (xl migrate's <host>).
	Host string `json:"host,omitempty"`
}

type callRecord struct {
	Ev   string    `json:"ev"`
	ID   string    `json:"id"`
	T    time.Time `json:"t"`
	Prog string    `json:"prog,omitempty"`
	Args []string  `json:"args,omitempty"`
	RC   *int      `json:"rc,omitempty"`
}

// appendBytes appends b with a single write(2) on an O_APPEND file.
func appendBytes(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (e *Env) logBegin(id, prog string, args []string, t time.Time) {
	if args == nil {
		args = []string{}
	}
	os.MkdirAll(e.Dir, 0o755)
	r := callRecord{Ev: "begin", ID: id, T: t, Prog: prog, Args: args}
	if b, err := json.Marshal(&r); err == nil {
		appendBytes(filepath.Join(e.Dir, "calls.log"), append(b, '\n'))
	}
}

func (e *Env) logEnd(id string, rc int) {
	r := callRecord{Ev: "end", ID: id, T: time.Now(), RC: &rc}
	if b, err := json.Marshal(&r); err == nil {
		appendBytes(filepath.Join(e.Dir, "calls.log"), append(b, '\n'))
	}
}

// appendEvents appends the lines of evs with a single write(2).
func (e *Env) appendEvents(evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	var b []byte
	for _, ev := range evs {
		line, err := json.Marshal(&ev)
		if err != nil {
			return err
		}
		b = append(append(b, line...), '\n')
	}
	return appendBytes(filepath.Join(e.Dir, "events.log"), b)
}

// ReadCalls reads $dir/calls.log: the invocations in the order they began.
// A missing log means no calls.
func ReadCalls(dir string) ([]Call, error) {
	path := filepath.Join(dir, "calls.log")
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var calls []*Call
	byID := map[string]*Call{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var r callRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		c := byID[r.ID]
		if c == nil {
			c = &Call{ID: r.ID}
			byID[r.ID] = c
			calls = append(calls, c)
		}
		switch r.Ev {
		case "begin":
			c.Begin, c.Prog, c.Args = r.T, r.Prog, r.Args
		case "end":
			c.End, c.Ended = r.T, true
			if r.RC != nil {
				c.RC = *r.RC
			}
		default:
			return nil, fmt.Errorf("%s:%d: unknown record %q", path, n, r.Ev)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	out := make([]Call, len(calls))
	for i, c := range calls {
		out[i] = *c
	}
	return out, nil
}

// ReadEvents reads $dir/events.log, sorted by the time the events
// happened (stable, so events of one instant keep their order). Events
// noticed lazily are logged late with their due time, hence the sort.
// A missing log means no events.
func ReadEvents(dir string) ([]Event, error) {
	path := filepath.Join(dir, "events.log")
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var evs []Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].T.Before(evs[j].T) })
	return evs, nil
}
