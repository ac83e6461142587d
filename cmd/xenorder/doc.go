// Command xenorder starts and stops the guests of a Xen host in dependency
// order.
//
// Usage:
//
//	xenorder [-c FILE] [-v] COMMAND [flags] [GUEST...]
//	xenorder --version
//
// Flags may also follow the command and the guest names
// (xenorder stop fileserver --dry-run). help COMMAND lists a command's
// flags.
//
// GUEST is a guest's name in the config. dom0 named as one (Domain-0, its
// domid 0, or dom0) is refused, exit 2, saying it is dom0, which xenorder
// never starts or stops: no other guest is suggested for it. A domid is
// refused too; another unknown name gets the closest guest's ("did you
// mean").
//
// Commands:
//
//	start [GUEST...]   Start every autostart guest, or the named guests, plus
//	                   everything they depend on, in dependency order, in
//	                   parallel where the graph allows. Running guests are
//	                   left alone. A guest with a save image is restored if
//	                   the image's save record proves it has not run since
//	                   (see Save images); the image is deleted the moment
//	                   xl restore succeeds. --dry-run prints the plan.
//	stop [GUEST...]    Stop every running guest, or the named guests and,
//	                   first, every running guest that depends on them, in
//	                   reverse dependency order: xl shutdown, then xl destroy
//	                   only after the guest's stop_timeout. With no names,
//	                   running domains the config does not name are stopped
//	                   first (never Domain-0, never a <guest>-dm stub domain).
//	                   A bare stop applies each guest's stop_action (shutdown,
//	                   save, migrate, destroy); named guests are shut down,
//	                   or saved with --save. A domain the config does not
//	                   name is never saved or migrated. A suspended domain
//	                   (a save cut short) is never destroyed: it is left,
//	                   named, and the exit code is 4. --dry-run prints the
//	                   plan. Named guests whose stop takes down other
//	                   running guests too (their dependents): on a terminal
//	                   the plan is shown and "Proceed? [y/N]" asked first
//	                   (see Questions).
//
//	                   start and stop say every 5 s what each guest still
//	                   waits for, sorted by guest ("db: waiting for
//	                   shutdown, 12s of 3m0s grace", "web: waiting for
//	                   console "web login:" (12s of 1m0s)", "fs: xl save:
//	                   40s of save_timeout 10m0s"); under systemd STATUS=
//	                   says the same.
//	drain GUEST...     Stop the named guests and, first, every running guest
//	                   that depends on them, in reverse order, and record
//	                   them all as drained in state_dir: a plain start (the
//	                   one at boot too) leaves them down, saying so, without
//	                   failing. The plan is printed, then executed (on a
//	                   terminal, when it stops more than the named guests,
//	                   once "Proceed? [y/N]" is answered y: see Questions).
//	                   --dry-run prints it only; --save saves instead.
//	resume [GUEST...]  Start the drained guests again (all, or the named
//	                   ones and the drained guests that depend on them), in
//	                   order, probes and all; each drain is lifted once its
//	                   guest is ready. start GUEST also lifts GUEST's drain;
//	                   start of a guest whose dependency is drained refuses
//	                   (exit 1) and names the command that lifts it.
//	restart GUEST...   drain (with its question on a terminal), then resume.
//	restore GUEST [IMAGE]
//	                   Restore GUEST from a save image a plain start does not
//	                   restore: its own (state_dir/save/GUEST.save) without a
//	                   save record (an older xenorder's) or whose save never
//	                   recorded its end, or IMAGE (xendomains' saves are in
//	                   /var/lib/xen/save). What it depends on is started
//	                   first; its probes are waited for; the image is
//	                   deleted once xl restore succeeded.
//	drains [--clear | --set GUEST...]
//	                   Print the drain record (state_dir/drains.json).
//	                   --clear writes a fresh one, nothing drained; --set
//	                   rebuilds it with exactly these guests drained (each a
//	                   guest of the config, else exit 2). Both take the lock
//	                   and write the record only: nothing stops or starts.
//	                   Every write keeps the record it replaces as
//	                   drains.json.prev. A damaged drains.json is replaced by
//	                   that copy, loudly, and kept as drains.json.damaged-TIME;
//	                   with no readable copy, start, resume, restart, drain
//	                   and plan start change nothing and exit 2, naming the
//	                   files and this command (under systemd: no READY=1, the
//	                   unit's start fails; then systemctl start
//	                   xenorder.service). stop and status still work.
//	plan [start|stop] [GUEST...]
//	                   Print what start (the default) or stop would do, tier
//	                   by tier, given the current xl list. Changes nothing.
//	check              Validate the config and every guest's xl config path,
//	                   and judge the permissions of the files that decide
//	                   what xenorder runs as root (below); list every
//	                   problem found.
//	status [--json] [--timings]
//	                   One row per guest and external node: state, ready
//	                   (its probes, tried once now), drained, domid, uptime
//	                   and last start time (for guests xenorder started),
//	                   memory, dependencies; then the running domains the
//	                   config does not name. Colours on a terminal only.
//	                   While another xenorder starts or stops guests, its
//	                   guests in flight show as starting or stopping, and
//	                   "in progress" names its pid and command, what each
//	                   does, the time used and left (of its grace period,
//	                   start_timeout or save_timeout) and the guests still
//	                   queued (--json: "in_progress" and each guest's
//	                   "progress"; "state" stays xl's). That run keeps
//	                   state_dir/progress.json (0600) while it holds the
//	                   lock; status ignores the file unless the kernel's
//	                   lock table names its writer, still running, as the
//	                   holder. Exit 0 when every autostart guest that is
//	                   not drained runs and is ready, else 1. --timings:
//	                   the last start's critical chain and every guest's
//	                   slack.
//	graph              The graph as Graphviz DOT, coloured by state:
//	                   xenorder graph | dot -Tsvg > graph.svg
//	plot               The last start (and stop) as an SVG timeline:
//	                   xenorder plot > boot.svg
//	import [--auto-dir DIR] [--defaults FILE] [--root DIR]
//	                   Print a xenorder.toml for what xendomains runs today
//	                   (xenorder import > /etc/xen/xenorder.toml): a guest
//	                   per xl config in its auto folder, with the
//	                   dependencies and settings it implies.
//	help [COMMAND]     Print this manual, or a command's flags.
//	version            Print xenorder's version (as --version does).
//
// Flags of the commands (after the command, before or after the guest
// names):
//
//	--dry-run          (start, stop, drain, resume, restart, restore,
//	                   drains) print the plan; change nothing.
//	--wait-lock D      (the same) wait up to D for another xenorder to
//	                   finish; without it, a second xenorder fails at once
//	                   (exit 3). Under systemd the wait extends the unit's
//	                   timeout every 2 s (EXTEND_TIMEOUT_USEC=) and STATUS=
//	                   names the holder's pid and command. D is written as
//	                   in systemd units or as Go writes it (90s, 5min, 1h,
//	                   2m30s, 1h 30min, 500ms, 1d; units ms, s/sec, m/min,
//	                   h/hr, d, w and their long forms), as the config's
//	                   durations are; a number without a unit, months,
//	                   years, infinity and a negative one are refused
//	                   (exit 2, saying what to write).
//	-y, --yes          (stop, drain, restart) do not ask before stopping
//	                   guests that were not named (see Questions).
//	--save             (stop, drain, restart) save the named guests (xl
//	                   save) instead of shutting them down.
//	--interrupt-holder (stop) when another xenorder holds the lock, send it
//	                   SIGTERM, then wait for it to let go, as long as it
//	                   runs (--wait-lock or not), and stop. The holder's pid
//	                   is read from the kernel's lock table (/proc/locks),
//	                   never from the lock file's text. The unit's ExecStop
//	                   uses it: at host shutdown an admin's drain or start
//	                   must not keep the guests from being stopped.
//	--exec-stop-post   (stop) the unit's ExecStopPost: stop every guest, as
//	                   ExecStop does, unless systemd's $SERVICE_RESULT says
//	                   the unit's start failed on its own (exit-code) or
//	                   never ran; then change nothing. systemd skips
//	                   ExecStop when it cuts a start or reload short, and
//	                   runs ExecStopPost always. Refused (exit 2) without
//	                   $SERVICE_RESULT.
//	--clear, --set     (drains) see drains above.
//	--json, --timings  (status) see status above.
//	--auto-dir DIR     (import) the folder of linked xl configs (default
//	                   XENDOMAINS_AUTO, else /etc/xen/auto).
//	--defaults FILE    (import) xendomains' settings (default
//	                   /etc/default/xendomains).
//	--root DIR         (import) read the host's files under DIR (a mounted
//	                   disk).
//
// Questions: on a terminal (stdin is one), stop, drain and restart of
// named guests show the plan and ask "Proceed? [y/N]" before a stop that
// takes down running guests they were not named (the dependents that must
// go first), while holding the lock; only y or yes goes on. Any other
// answer, end of input, a signal or no answer within 5 minutes does
// nothing and exits 1. --yes skips the question. Where stdin is not a
// terminal (the unit, scripts, cron, ssh without a terminal) nothing is
// asked: the plan is carried out, as it always was. A bare stop, which
// names nothing and stops everything, never asks.
//
// Global flags:
//
//	-c, --config FILE  the config file (default /etc/xen/xenorder.toml, or
//	                   $XENORDER_CONFIG when set)
//	-v                 verbose: log every xl call on stderr
//	--version          print xenorder's version and exit
//
// The package installs no config (its annotated example, with made-up
// guests, is /usr/share/doc/xenorder/examples/xenorder.toml). While the
// config file does not exist, every command but import, help and version exits 2
// and says how to write one: xenorder import > /etc/xen/xenorder.toml, or a
// copy of the example. xenorder.service puts XENORDER_OPTS from
// /etc/default/xenorder (-v, -c FILE) before each command it runs.
//
// Exit codes:
//
//	0  everything was done as asked
//	1  done, but some guest needed force or a fallback (destroyed after its
//	   grace period, saved → shut down, restore → fresh boot, migrate → shut
//	   down); or a start left some guest down: failed, skipped, interrupted;
//	   or xl failed; the summary names each. status: some autostart guest is
//	   not running. stop, drain, restart: the question was not answered
//	   yes; nothing was done.
//	2  usage or config error, unsafe file permissions, damaged state, or a
//	   command that changes the host run off dom0; nothing was changed
//	3  another xenorder holds the lock (its pid and command are named), or
//	   the command was interrupted while waiting for it; nothing was done
//	4  a stop left guests on the host: still running (skipped because a
//	   dependent still runs, interrupted, failed) or suspended by a save or
//	   migration that did not finish; the summary names each and what to do.
//	   The unit's SuccessExitStatus=1 does not cover it: systemd shows the
//	   stop as failed.
//	5  a start (resume, restore, restart's resume too) was to start guests,
//	   every one failed or was skipped, and no domain but Domain-0 runs: the
//	   host has no guest. Outside SuccessExitStatus=1: the unit fails and
//	   shows in systemctl --failed. While any domain runs it is 1 instead
//	   (the unit stays active, and its stop runs at poweroff); so it is
//	   after an interruption, or when xl list fails.
//
// Dom0 only: start, stop, drain, resume, restart, restore and drains
// --clear/--set change nothing and exit 2 unless /proc/xen/capabilities
// says control_d (as xendomains tells dom0: empty in a Xen guest, absent
// without Xen). check, plan, graph, import, status, plot, drains and every
// --dry-run are not refused.
//
// The unit's state: status and every command that changes the host warn,
// in one line on stderr, when xenorder.service is failed or inactive while
// domains run: its stop will not run at poweroff. systemd is asked over
// D-Bus for at most 2 s; without systemd, or a unit it does not know,
// nothing is said; nor under the unit itself ($NOTIFY_SOCKET).
//
// File permissions: xenorder runs as root what its files say, so it trusts
// the config, xl, xenstore_read, xenstore_watch, every exec probe's program,
// each guest's xl config and what that makes xl run (bootloader,
// device_model_override, each vif's and disk's script, relative ones from
// /etc/xen/scripts) only when each, every folder above it and, for a
// program found on PATH, every PATH folder searched before it are owned by
// root or the user running xenorder (its real uid) and writable neither by
// group nor by others (a sticky folder root owns, like /tmp, is fine;
// symbolic links are followed and judged too). Otherwise every command but
// check, import, plot and help runs nothing and exits 2, naming each path
// and the command that fixes it (chmod go-w PATH, chown root PATH); check
// lists them among its problems.
//
// Signals: SIGINT (Ctrl-C) and SIGTERM (timeout(1), a cron job, kill,
// systemd) mean the same during start: launch nothing new, leave started
// guests as they are, exit 1. The summary says the state each unfinished
// guest was left in: "INTERRUPTED fileserver: left running (domid 34),
// created by this start, not confirmed ready: ..." (an xl create in flight
// is never abandoned), "INTERRUPTED web: not started". The start
// never stops a guest; when systemd cuts the unit's start short, the unit's
// ExecStopPost (stop --exec-stop-post) stops them. During stop, a signal
// lets the stops in flight finish (an xl save is never cut short) and
// starts no new one; the summary names what still runs ("INTERRUPTED
// opnsense: not stopped; still running (domid 5)"), exit 4.
//
// Save images: a stop's save writes state_dir/save/GUEST.save (0600, in a
// 0700 folder) and a record beside it, GUEST.record, before xl save runs,
// completed once it succeeded. Every look at the host (every xl list,
// status's too) checks the records: a guest seen running since its save
// makes its image stale, moved aside as GUEST.save.stale-TIME and never
// restored (the one change a look makes, plan and --dry-run included: the
// evidence may be gone by the next start). An image without a record, or whose save never recorded its end
// (xenorder killed mid-save), is not restored by a plain start; the latter
// guest is not started either (booting it would make the image stale):
// xenorder restore GUEST restores it. No timeout and no signal interrupts an
// xl save, restore or migrate: past save_timeout (a restore: start_timeout)
// xenorder says so and waits on, extending the unit's timeout while it
// makes progress, until 2 minutes without progress. status lists every
// image, the ones kept aside (.old-, .failed-, .stale-) included; xenorder
// deletes one only after a restore from it succeeded.
//
// A jump of the wall clock (NTP at boot, date -s) changes no decision:
// grace periods and timeouts are measured on the monotonic clock, and an
// image's restore is proven by domids, not by times; only the times shown
// move (status shows an age or uptime that begins after its clock's new
// "now" as 0s).
//
// SIGHUP (the terminal hung up, an ssh session dropped) means what SIGINT
// means. Every program xenorder runs (xl, exec probes, xenstore-read,
// xenstore-watch, modprobe) leads a process group of its own, so a
// terminal's Ctrl-C or hang-up, which go to its foreground process group,
// reach xenorder alone: an xl save, xl restore or xl migrate it started
// gets no signal from it, first or second, and the other programs get
// SIGINT only when xenorder gives up on them. A reader of its output that
// went away with the terminal (xenorder stop | tee log) does not stop it
// either. xl runs under umask 077: a save image is 0600 from its first byte.
//
// How long a signalled xenorder (say, the holder of the lock that stop
// --interrupt-holder sent SIGTERM) still runs: until what it has in flight
// ends. In a start: an xl create, at most the guest's start_timeout from
// when its start began; other xl calls at most 30 s; waits for probes and
// probe attempts end at once. In a stop: each guest being stopped finishes
// its shutdown: at most twice its stop_timeout (a guest that comes back
// instead of going is asked once more) plus xl's own time limits (xl
// shutdown 90 s, xl destroy 60 s, a domain's vanishing 60 s; 10 minutes at
// the very most). An xl save, restore or migrate in flight is never cut
// short and has no bound: stop --interrupt-holder keeps waiting, and
// extending the unit's timeout, as long as the holder runs.
package main
