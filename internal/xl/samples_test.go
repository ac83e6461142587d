package xl

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// samplesDir holds real xl output captured on Xen 4.17.
const samplesDir = "../../testdata/xl-samples"

// sample is one block of a samples file: a command, its output and exit code.
type sample struct {
	cmd            string // without the leading "$ ", e.g. "xl list -v"
	stdout, stderr string
	rc             int
}

// readSamples reads a samples file made of blocks
//
//	### $ command
//	--- stdout
//	...
//	--- stderr
//	...
//	--- rc=N
func readSamples(t testing.TB, name string) []sample {
	t.Helper()
	f, err := os.Open(filepath.Join(samplesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	var samples []sample
	var cur *sample
	var section *string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "### $ "):
			samples = append(samples, sample{cmd: strings.TrimPrefix(line, "### $ ")})
			cur, section = &samples[len(samples)-1], nil
		case cur == nil:
			// comments before the first block
		case line == "--- stdout":
			section = &cur.stdout
		case strings.HasSuffix(line, "--- stderr") && section == &cur.stdout:
			// Output without a final newline runs into the marker.
			cur.stdout += strings.TrimSuffix(line, "--- stderr")
			section = &cur.stderr
		case strings.HasPrefix(line, "--- rc="):
			cur.rc, err = strconv.Atoi(strings.TrimPrefix(line, "--- rc="))
			if err != nil {
				t.Fatalf("%s: %q: %v", name, line, err)
			}
			section = nil
		case section != nil:
			*section += line + "\n"
		default:
			t.Fatalf("%s: line %q outside a section", name, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(samples) == 0 {
		t.Fatalf("%s: no samples", name)
	}
	return samples
}

// findSample returns the only sample of cmd that exited with rc.
func findSample(t testing.TB, samples []sample, cmd string, rc int) sample {
	t.Helper()
	var found []sample
	for _, s := range samples {
		if s.cmd == cmd && s.rc == rc {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d samples of %q with rc=%d, want 1", len(found), cmd, rc)
	}
	return found[0]
}

// readStateListings reads the `xl list` listings of the states notes file,
// which is free-form: "$ xl list..." followed by the rows, up to a blank
// line or the next comment or command.
func readStateListings(t testing.TB) []sample {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(samplesDir, "xen-4.17-states.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var listings []sample
	var cur *sample
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "$ xl list"):
			listings = append(listings, sample{cmd: strings.TrimPrefix(line, "$ ")})
			cur = &listings[len(listings)-1]
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "$"):
			cur = nil
		case cur != nil:
			cur.stdout += line + "\n"
		}
	}
	if len(listings) == 0 {
		t.Fatal("no xl list in the states file")
	}
	return listings
}
