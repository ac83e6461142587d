// Command xenorder starts and stops the guests of a Xen host in dependency
// order.
//
// Usage:
//
//	xenorder [-c FILE] [-v] COMMAND [flags] [GUEST...]
//
// Flags may also follow the command and the guest names
// (xenorder stop fileserver --dry-run).
//
// Commands:
//
//	start [GUEST...]   Start every autostart guest, or the named guests, plus
//	                   everything they depend on, in dependency order, in
//	                   parallel where the graph allows. Running guests are
//	                   left alone. --dry-run prints the plan instead.
//	stop [GUEST...]    Stop every running guest, or the named guests and,
//	                   first, every running guest that depends on them, in
//	                   reverse dependency order: xl shutdown, then xl destroy
//	                   only after the guest's stop_timeout. With no names,
//	                   running domains the config does not name are stopped
//	                   first (never Domain-0, never a <guest>-dm stub domain).
//	                   --dry-run prints the plan instead.
//	plan [start|stop] [GUEST...]
//	                   Print what start (the default) or stop would do, tier
//	                   by tier, given the current xl list. Changes nothing.
//	check              Validate the config and every guest's xl config path;
//	                   list every problem found.
//	status [--json]    One row per guest and per running domain the config
//	                   does not name: state, domid, memory, dependencies.
//	help [COMMAND]     Print this manual, or one command's flags.
//
// Global flags:
//
//	-c, --config FILE  the config file (default /etc/xen/xenorder.toml, or
//	                   $XENORDER_CONFIG when set)
//	-v                 verbose: log every xl call on stderr
//
// Exit codes:
//
//	0  everything was done as asked
//	1  some guest failed, was skipped, or needed force (destroyed after its
//	   grace period); or xl failed. status: some autostart guest is not
//	   running.
//	2  usage or config error; nothing was changed
package main
