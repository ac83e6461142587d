package xlsim

import (
	"encoding/json"
	"fmt"
)

// state.json is the State as encoding/json writes it (a hand-written
// codec saved ~1.5 ms of CPU per xl call on a host of 60 guests, which the
// test suite's wall time did not show). A domain's xenstore keys are not
// in it: they are in a file of their own (see xenstore).

// stateFile is state.json: the State, its domains without their keys.
type stateFile struct {
	NextDomid int                     `json:"next_domid"`
	Domains   []stateDomain           `json:"domains"`
	Gone      map[int]GoneInfo        `json:"gone,omitempty"`
	PCI       map[string]*PCIDevState `json:"pci,omitempty"`
}

// stateDomain is a Domain whose keys (XS, "xenstore") its own field of the
// same name hides: encoding/json takes the shallower of the two.
type stateDomain struct {
	*Domain
	XS *struct{} `json:"xenstore,omitempty"`
}

// encodeState is state.json for st.
func encodeState(st *State) []byte {
	f := stateFile{NextDomid: st.NextDomid, Domains: make([]stateDomain, len(st.Domains)), Gone: st.Gone, PCI: st.PCI}
	for i, d := range st.Domains {
		f.Domains[i].Domain = d
	}
	b, err := json.Marshal(&f)
	if err != nil {
		panic(err) // numbers, strings, bools and times
	}
	return append(b, '\n')
}

// decodeState reads state.json.
func decodeState(b []byte) (*State, error) {
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	st := &State{NextDomid: f.NextDomid, Gone: f.Gone, PCI: f.PCI}
	for _, d := range f.Domains {
		if d.Domain == nil {
			return nil, fmt.Errorf("a domain that is null")
		}
		st.Domains = append(st.Domains, d.Domain)
	}
	return st, nil
}

// encodeXS is the file of a domain's xenstore keys: a JSON object.
func encodeXS(m map[string]string) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // strings
	}
	return append(b, '\n')
}

// decodeXS reads what encodeXS wrote into m.
func decodeXS(b []byte, m map[string]string) {
	if len(b) > 0 {
		json.Unmarshal(b, &m)
	}
}
