# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_snapkeeper_global_optspecs
    string join \n config= state-dir= log-format= credentials-dir= h/help V/version
end

function __fish_snapkeeper_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_snapkeeper_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_snapkeeper_using_subcommand
    set -l cmd (__fish_snapkeeper_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c snapkeeper -n "__fish_snapkeeper_needs_command" -l config -d 'The configuration file' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_needs_command" -l state-dir -d 'Where reload grace periods are kept across restarts (the daemon writes it; plan, prune and run --once read it). Default: $STATE_DIRECTORY as systemd sets it; commands then fall back to /var/lib/snapkeeper' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_needs_command" -l log-format -d 'Where logs go: auto (journald under systemd, else stderr), text, json, journald' -r -f -a "auto\t'journald when its socket exists, else human-readable stderr'
text\t'Human-readable lines on stderr'
json\t'One JSON object per line on stderr'
journald\t'journald only'"
complete -c snapkeeper -n "__fish_snapkeeper_needs_command" -l credentials-dir -d 'Read `credential:` tokens from this directory instead of $CREDENTIALS_DIRECTORY' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c snapkeeper -n "__fish_snapkeeper_needs_command" -s V -l version -d 'Print version'
complete -c snapkeeper -n "__fish_snapkeeper_needs_command" -f -a "run" -d 'Run the daemon: one loop per account, reload on change, stop on SIGTERM'
complete -c snapkeeper -n "__fish_snapkeeper_needs_command" -f -a "check" -d 'Validate the configuration file and print every problem found'
complete -c snapkeeper -n "__fish_snapkeeper_needs_command" -f -a "plan" -d 'Show what would be created and deleted now, touching nothing'
complete -c snapkeeper -n "__fish_snapkeeper_needs_command" -f -a "snapshot" -d 'Take a snapshot now'
complete -c snapkeeper -n "__fish_snapkeeper_needs_command" -f -a "delete" -d 'Delete one snapshot (asks first; refuses one that retention keeps)'
complete -c snapkeeper -n "__fish_snapkeeper_needs_command" -f -a "list" -d 'List snapshots'
complete -c snapkeeper -n "__fish_snapkeeper_needs_command" -f -a "prune" -d 'Apply retention now, with the daemon\'s floors and caps'
complete -c snapkeeper -n "__fish_snapkeeper_needs_command" -f -a "inventory" -d 'Show what each account holds'
complete -c snapkeeper -n "__fish_snapkeeper_needs_command" -f -a "status" -d 'Is every backup fresh? Exit 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN (Nagios)'
complete -c snapkeeper -n "__fish_snapkeeper_needs_command" -f -a "notify-test" -d 'Send one test message to every webhook in `notify:`'
complete -c snapkeeper -n "__fish_snapkeeper_needs_command" -f -a "sim" -d 'Serve the built-in provider simulator'
complete -c snapkeeper -n "__fish_snapkeeper_needs_command" -f -a "demo" -d 'Run the daemon against the built-in simulator for about a minute'
complete -c snapkeeper -n "__fish_snapkeeper_needs_command" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c snapkeeper -n "__fish_snapkeeper_needs_command" -f -a "man" -d 'Print the man page (roff) for snapkeeper(1)'
complete -c snapkeeper -n "__fish_snapkeeper_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand run" -l account -d 'With --once: only this account (repeat for more)' -r
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand run" -l poll-interval -d 'First pause between polls of a pending snapshot (grows to --poll-max)' -r
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand run" -l poll-max -d 'Longest pause between polls of a pending snapshot' -r
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand run" -l busy-delay -d 'Pause before trying a busy resource again within a cycle' -r
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand run" -l retry-delay -d 'Pause before the next cycle after a failed one (doubles, up to 8x)' -r
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand run" -l watch-check -d 'How often the config watch is checked against its directory and symlink chain (re-armed when they changed)' -r
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand run" -l content-check -d 'How often the config file\'s bytes are compared with the config in force (a safety net for changes no file event announced)' -r
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand run" -l http-retry-delay -d 'First back-off of a retried HTTP request' -r
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand run" -l idle-release -d 'Give idle memory back to the system once no provider request was sent for this long (0s: never)' -r
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand run" -l config -d 'The configuration file' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand run" -l state-dir -d 'Where reload grace periods are kept across restarts (the daemon writes it; plan, prune and run --once read it). Default: $STATE_DIRECTORY as systemd sets it; commands then fall back to /var/lib/snapkeeper' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand run" -l log-format -d 'Where logs go: auto (journald under systemd, else stderr), text, json, journald' -r -f -a "auto\t'journald when its socket exists, else human-readable stderr'
text\t'Human-readable lines on stderr'
json\t'One JSON object per line on stderr'
journald\t'journald only'"
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand run" -l credentials-dir -d 'Read `credential:` tokens from this directory instead of $CREDENTIALS_DIRECTORY' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand run" -l once -d 'Run one full cycle for every account, then exit (0, 1 or 2)'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand check" -l config -d 'The configuration file' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand check" -l state-dir -d 'Where reload grace periods are kept across restarts (the daemon writes it; plan, prune and run --once read it). Default: $STATE_DIRECTORY as systemd sets it; commands then fall back to /var/lib/snapkeeper' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand check" -l log-format -d 'Where logs go: auto (journald under systemd, else stderr), text, json, journald' -r -f -a "auto\t'journald when its socket exists, else human-readable stderr'
text\t'Human-readable lines on stderr'
json\t'One JSON object per line on stderr'
journald\t'journald only'"
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand check" -l credentials-dir -d 'Read `credential:` tokens from this directory instead of $CREDENTIALS_DIRECTORY' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand check" -l resolve-secrets -d 'Also read every account\'s token (without printing it)'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand check" -l online -d 'Also make one read per account with its token: works, 401, 403 or unreachable'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand plan" -l at -d 'Plan as of this time: 2026-11-30, 2026-11-30T06:00 (UTC), RFC 3339, or +3d' -r
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand plan" -l account -d 'Only this account (repeat for more; all accounts when absent)' -r
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand plan" -l config -d 'The configuration file' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand plan" -l state-dir -d 'Where reload grace periods are kept across restarts (the daemon writes it; plan, prune and run --once read it). Default: $STATE_DIRECTORY as systemd sets it; commands then fall back to /var/lib/snapkeeper' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand plan" -l log-format -d 'Where logs go: auto (journald under systemd, else stderr), text, json, journald' -r -f -a "auto\t'journald when its socket exists, else human-readable stderr'
text\t'Human-readable lines on stderr'
json\t'One JSON object per line on stderr'
journald\t'journald only'"
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand plan" -l credentials-dir -d 'Read `credential:` tokens from this directory instead of $CREDENTIALS_DIRECTORY' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand plan" -l json -d 'Machine-readable output'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand plan" -l wide -d 'Full ids, names and times (tables fit 100 columns without it)'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand plan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand snapshot" -l name -d 'The snapshot name (manual snapshots; a managed one is named by its marker)' -r
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand snapshot" -l policy -d 'Make it a managed snapshot of this policy' -r
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand snapshot" -l config -d 'The configuration file' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand snapshot" -l state-dir -d 'Where reload grace periods are kept across restarts (the daemon writes it; plan, prune and run --once read it). Default: $STATE_DIRECTORY as systemd sets it; commands then fall back to /var/lib/snapkeeper' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand snapshot" -l log-format -d 'Where logs go: auto (journald under systemd, else stderr), text, json, journald' -r -f -a "auto\t'journald when its socket exists, else human-readable stderr'
text\t'Human-readable lines on stderr'
json\t'One JSON object per line on stderr'
journald\t'journald only'"
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand snapshot" -l credentials-dir -d 'Read `credential:` tokens from this directory instead of $CREDENTIALS_DIRECTORY' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand snapshot" -l wait -d 'Wait until the snapshot is complete'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand snapshot" -l json -d 'Machine-readable output'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand snapshot" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand delete" -l config -d 'The configuration file' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand delete" -l state-dir -d 'Where reload grace periods are kept across restarts (the daemon writes it; plan, prune and run --once read it). Default: $STATE_DIRECTORY as systemd sets it; commands then fall back to /var/lib/snapkeeper' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand delete" -l log-format -d 'Where logs go: auto (journald under systemd, else stderr), text, json, journald' -r -f -a "auto\t'journald when its socket exists, else human-readable stderr'
text\t'Human-readable lines on stderr'
json\t'One JSON object per line on stderr'
journald\t'journald only'"
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand delete" -l credentials-dir -d 'Read `credential:` tokens from this directory instead of $CREDENTIALS_DIRECTORY' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand delete" -s y -l yes -d 'Do not ask for confirmation (needed when stdin is not a terminal)'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand delete" -l force -d 'Delete a managed snapshot even though retention keeps it'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand delete" -l json -d 'Machine-readable output'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand delete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand list" -l account -d 'Only this account (repeat for more; all accounts when absent)' -r
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand list" -l resource -d 'Only snapshots of this resource (id or name)' -r
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand list" -l config -d 'The configuration file' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand list" -l state-dir -d 'Where reload grace periods are kept across restarts (the daemon writes it; plan, prune and run --once read it). Default: $STATE_DIRECTORY as systemd sets it; commands then fall back to /var/lib/snapkeeper' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand list" -l log-format -d 'Where logs go: auto (journald under systemd, else stderr), text, json, journald' -r -f -a "auto\t'journald when its socket exists, else human-readable stderr'
text\t'Human-readable lines on stderr'
json\t'One JSON object per line on stderr'
journald\t'journald only'"
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand list" -l credentials-dir -d 'Read `credential:` tokens from this directory instead of $CREDENTIALS_DIRECTORY' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand list" -l all -d 'Show manual (unmanaged) snapshots too'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand list" -l json -d 'Machine-readable output'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand list" -l wide -d 'Full ids, names and times (tables fit 100 columns without it)'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand prune" -l account -d 'Only this account (repeat for more; all accounts when absent)' -r
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand prune" -l config -d 'The configuration file' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand prune" -l state-dir -d 'Where reload grace periods are kept across restarts (the daemon writes it; plan, prune and run --once read it). Default: $STATE_DIRECTORY as systemd sets it; commands then fall back to /var/lib/snapkeeper' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand prune" -l log-format -d 'Where logs go: auto (journald under systemd, else stderr), text, json, journald' -r -f -a "auto\t'journald when its socket exists, else human-readable stderr'
text\t'Human-readable lines on stderr'
json\t'One JSON object per line on stderr'
journald\t'journald only'"
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand prune" -l credentials-dir -d 'Read `credential:` tokens from this directory instead of $CREDENTIALS_DIRECTORY' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand prune" -l dry-run -d 'Show what would be deleted, delete nothing'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand prune" -l json -d 'Machine-readable output'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand prune" -l wide -d 'Full ids, names and times (tables fit 100 columns without it)'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand prune" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand inventory" -l account -d 'Only this account (repeat for more; all accounts when absent)' -r
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand inventory" -l config -d 'The configuration file' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand inventory" -l state-dir -d 'Where reload grace periods are kept across restarts (the daemon writes it; plan, prune and run --once read it). Default: $STATE_DIRECTORY as systemd sets it; commands then fall back to /var/lib/snapkeeper' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand inventory" -l log-format -d 'Where logs go: auto (journald under systemd, else stderr), text, json, journald' -r -f -a "auto\t'journald when its socket exists, else human-readable stderr'
text\t'Human-readable lines on stderr'
json\t'One JSON object per line on stderr'
journald\t'journald only'"
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand inventory" -l credentials-dir -d 'Read `credential:` tokens from this directory instead of $CREDENTIALS_DIRECTORY' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand inventory" -l json -d 'Machine-readable output'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand inventory" -l wide -d 'Full ids, names and times (tables fit 100 columns without it)'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand inventory" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand status" -l account -d 'Only this account (repeat for more; all accounts when absent)' -r
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand status" -l config -d 'The configuration file' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand status" -l state-dir -d 'Where reload grace periods are kept across restarts (the daemon writes it; plan, prune and run --once read it). Default: $STATE_DIRECTORY as systemd sets it; commands then fall back to /var/lib/snapkeeper' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand status" -l log-format -d 'Where logs go: auto (journald under systemd, else stderr), text, json, journald' -r -f -a "auto\t'journald when its socket exists, else human-readable stderr'
text\t'Human-readable lines on stderr'
json\t'One JSON object per line on stderr'
journald\t'journald only'"
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand status" -l credentials-dir -d 'Read `credential:` tokens from this directory instead of $CREDENTIALS_DIRECTORY' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand status" -l json -d 'Machine-readable output'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand notify-test" -l config -d 'The configuration file' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand notify-test" -l state-dir -d 'Where reload grace periods are kept across restarts (the daemon writes it; plan, prune and run --once read it). Default: $STATE_DIRECTORY as systemd sets it; commands then fall back to /var/lib/snapkeeper' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand notify-test" -l log-format -d 'Where logs go: auto (journald under systemd, else stderr), text, json, journald' -r -f -a "auto\t'journald when its socket exists, else human-readable stderr'
text\t'Human-readable lines on stderr'
json\t'One JSON object per line on stderr'
journald\t'journald only'"
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand notify-test" -l credentials-dir -d 'Read `credential:` tokens from this directory instead of $CREDENTIALS_DIRECTORY' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand notify-test" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand sim" -l listen -d 'Address to listen on (port 0 picks a free port)' -r
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand sim" -l seed -d 'Seed file (YAML); the built-in demo seed when absent' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand sim" -l config -d 'The configuration file' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand sim" -l state-dir -d 'Where reload grace periods are kept across restarts (the daemon writes it; plan, prune and run --once read it). Default: $STATE_DIRECTORY as systemd sets it; commands then fall back to /var/lib/snapkeeper' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand sim" -l log-format -d 'Where logs go: auto (journald under systemd, else stderr), text, json, journald' -r -f -a "auto\t'journald when its socket exists, else human-readable stderr'
text\t'Human-readable lines on stderr'
json\t'One JSON object per line on stderr'
journald\t'journald only'"
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand sim" -l credentials-dir -d 'Read `credential:` tokens from this directory instead of $CREDENTIALS_DIRECTORY' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand sim" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand demo" -l seconds -d 'How long to run' -r
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand demo" -l config -d 'The configuration file' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand demo" -l state-dir -d 'Where reload grace periods are kept across restarts (the daemon writes it; plan, prune and run --once read it). Default: $STATE_DIRECTORY as systemd sets it; commands then fall back to /var/lib/snapkeeper' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand demo" -l log-format -d 'Where logs go: auto (journald under systemd, else stderr), text, json, journald' -r -f -a "auto\t'journald when its socket exists, else human-readable stderr'
text\t'Human-readable lines on stderr'
json\t'One JSON object per line on stderr'
journald\t'journald only'"
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand demo" -l credentials-dir -d 'Read `credential:` tokens from this directory instead of $CREDENTIALS_DIRECTORY' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand demo" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand completions" -l config -d 'The configuration file' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand completions" -l state-dir -d 'Where reload grace periods are kept across restarts (the daemon writes it; plan, prune and run --once read it). Default: $STATE_DIRECTORY as systemd sets it; commands then fall back to /var/lib/snapkeeper' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand completions" -l log-format -d 'Where logs go: auto (journald under systemd, else stderr), text, json, journald' -r -f -a "auto\t'journald when its socket exists, else human-readable stderr'
text\t'Human-readable lines on stderr'
json\t'One JSON object per line on stderr'
journald\t'journald only'"
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand completions" -l credentials-dir -d 'Read `credential:` tokens from this directory instead of $CREDENTIALS_DIRECTORY' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand man" -l config -d 'The configuration file' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand man" -l state-dir -d 'Where reload grace periods are kept across restarts (the daemon writes it; plan, prune and run --once read it). Default: $STATE_DIRECTORY as systemd sets it; commands then fall back to /var/lib/snapkeeper' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand man" -l log-format -d 'Where logs go: auto (journald under systemd, else stderr), text, json, journald' -r -f -a "auto\t'journald when its socket exists, else human-readable stderr'
text\t'Human-readable lines on stderr'
json\t'One JSON object per line on stderr'
journald\t'journald only'"
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand man" -l credentials-dir -d 'Read `credential:` tokens from this directory instead of $CREDENTIALS_DIRECTORY' -r -F
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand help; and not __fish_seen_subcommand_from run check plan snapshot delete list prune inventory status notify-test sim demo completions man help" -f -a "run" -d 'Run the daemon: one loop per account, reload on change, stop on SIGTERM'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand help; and not __fish_seen_subcommand_from run check plan snapshot delete list prune inventory status notify-test sim demo completions man help" -f -a "check" -d 'Validate the configuration file and print every problem found'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand help; and not __fish_seen_subcommand_from run check plan snapshot delete list prune inventory status notify-test sim demo completions man help" -f -a "plan" -d 'Show what would be created and deleted now, touching nothing'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand help; and not __fish_seen_subcommand_from run check plan snapshot delete list prune inventory status notify-test sim demo completions man help" -f -a "snapshot" -d 'Take a snapshot now'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand help; and not __fish_seen_subcommand_from run check plan snapshot delete list prune inventory status notify-test sim demo completions man help" -f -a "delete" -d 'Delete one snapshot (asks first; refuses one that retention keeps)'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand help; and not __fish_seen_subcommand_from run check plan snapshot delete list prune inventory status notify-test sim demo completions man help" -f -a "list" -d 'List snapshots'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand help; and not __fish_seen_subcommand_from run check plan snapshot delete list prune inventory status notify-test sim demo completions man help" -f -a "prune" -d 'Apply retention now, with the daemon\'s floors and caps'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand help; and not __fish_seen_subcommand_from run check plan snapshot delete list prune inventory status notify-test sim demo completions man help" -f -a "inventory" -d 'Show what each account holds'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand help; and not __fish_seen_subcommand_from run check plan snapshot delete list prune inventory status notify-test sim demo completions man help" -f -a "status" -d 'Is every backup fresh? Exit 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN (Nagios)'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand help; and not __fish_seen_subcommand_from run check plan snapshot delete list prune inventory status notify-test sim demo completions man help" -f -a "notify-test" -d 'Send one test message to every webhook in `notify:`'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand help; and not __fish_seen_subcommand_from run check plan snapshot delete list prune inventory status notify-test sim demo completions man help" -f -a "sim" -d 'Serve the built-in provider simulator'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand help; and not __fish_seen_subcommand_from run check plan snapshot delete list prune inventory status notify-test sim demo completions man help" -f -a "demo" -d 'Run the daemon against the built-in simulator for about a minute'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand help; and not __fish_seen_subcommand_from run check plan snapshot delete list prune inventory status notify-test sim demo completions man help" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand help; and not __fish_seen_subcommand_from run check plan snapshot delete list prune inventory status notify-test sim demo completions man help" -f -a "man" -d 'Print the man page (roff) for snapkeeper(1)'
complete -c snapkeeper -n "__fish_snapkeeper_using_subcommand help; and not __fish_seen_subcommand_from run check plan snapshot delete list prune inventory status notify-test sim demo completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
