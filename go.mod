module github.com/xenorder/xenorder

go 1.26.0

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/coreos/go-systemd/v22 v22.7.0
)

require golang.org/x/sys v0.50.0

require golang.org/x/sync v0.25.0

require github.com/godbus/dbus/v5 v5.2.4 // indirect
