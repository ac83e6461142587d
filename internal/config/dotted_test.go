package config

import (
	"errors"
	"strings"
	"testing"
)

// TestDottedGuestNames: a guest named like a host in an unquoted table
// header ([guest.mail.example.org]) is read by TOML as guest "mail" holding
// a table "example": the problem names the file and line and says to quote
// the name, and the guest "mail" the header made up adds no noise of its
// own.
func TestDottedGuestNames(t *testing.T) {
	const file = "/etc/xen/xenorder.toml"
	tests := []struct {
		name string
		src  string
		want []string // each a whole problem line
	}{
		{"a host name", `
[guest.web]

[guest.mail.example.org]
config = "/etc/xen/mail.cfg"`, []string{
			file + `:4: [guest.mail.example.org] is read as guest "mail" holding a table "example": TOML splits a table's name at its dots. Quote a name with dots: [guest."mail.example.org"]`}},
		{"two dots, probes and a dependent", `
[guest.mail.example.org]
[[guest.mail.example.org.ready]]
tcp = "10.0.0.5:25"
[guest.web]
depends_on = ["mail.example.org"]`, []string{
			file + `:2: [guest.mail.example.org] is read as guest "mail" holding a table "example": TOML splits a table's name at its dots. Quote a name with dots: [guest."mail.example.org"]`,
			file + `:6: guest web: depends_on: unknown guest "mail.example.org" (declare it as [guest."mail.example.org"] or [external."mail.example.org"])`}},
		{"probes alone", `
[[guest.db.lan.ready]]
tcp = "10.0.0.6:5432"`, []string{
			file + `:2: [[guest.db.lan.ready]] is read as guest "db" holding a table "lan": TOML splits a table's name at its dots. Quote a name with dots: [[guest."db.lan".ready]]`}},
		{"one dot", `
[guest.web.lan]`, []string{
			file + `:2: [guest.web.lan] is read as guest "web" holding a table "lan": TOML splits a table's name at its dots. Quote a name with dots: [guest."web.lan"]`}},
		{"an external node", `
[external.nas.example.org]
[[external.nas.example.org.ready]]
tcp = "10.0.0.7:2049"`, []string{
			file + `:2: [external.nas.example.org] is read as external "nas" holding a table "example": TOML splits a table's name at its dots. Quote a name with dots: [external."nas.example.org"]`}},
		{"beside a real guest of the first part", `
[guest.web]
stop_timeout = "1m"
[guest.web.lan]`, []string{
			file + `:4: [guest.web.lan] is read as guest "web" holding a table "lan", which is not a key of a guest (known: config, depends_on, after, autostart, start_timeout, stop_timeout, ready, stop_action, migrate_to, acpi_fallback, save_timeout, restore_fallback, pci_assignable, pci_seize). If "web.lan" is one name, quote it: [guest."web.lan"]`}},
		{"a dotted key is still an unknown key", `
[guest.web]
colour.dark = "red"`, []string{
			file + `:3: guest web: colour: unknown key`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(file, []byte(tt.src))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *config.Error", err)
			}
			got := strings.Split(ce.Error(), "\n")
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems:\n%s\nwant:\n%s", len(got), ce, strings.Join(tt.want, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("problem %d:\n got %s\nwant %s", i, got[i], tt.want[i])
				}
			}
		})
	}
	// Quoted, the name is one guest's.
	cfg, err := Parse(file, []byte("[guest.\"mail.example.org\"]\n[[guest.\"mail.example.org\".ready]]\ntcp = \"10.0.0.5:25\"\n[guest.web]\ndepends_on = [\"mail.example.org\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if g := cfg.Guests["mail.example.org"]; g == nil || len(g.Probes) != 1 || len(cfg.Guests) != 2 {
		t.Errorf("quoted: guests %v", cfg.Names())
	}
}

func TestTableName(t *testing.T) {
	for _, tt := range []struct{ kind, name, want string }{
		{"guest", "web", "guest.web"},
		{"guest", "Domain-N", "guest.Domain-N"},
		{"guest", "mail_1", "guest.mail_1"},
		{"guest", "mail.example.org", `guest."mail.example.org"`},
		{"external", "nas:1", `external."nas:1"`},
		{"guest", "", `guest.""`},
	} {
		if got := TableName(tt.kind, tt.name); got != tt.want {
			t.Errorf("TableName(%q, %q) = %s, want %s", tt.kind, tt.name, got, tt.want)
		}
	}
}
