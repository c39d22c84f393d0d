//! corral's own methods, `corral.*`: what supervisord has no method for. Their help texts
//! follow supervisord's docstring convention (`@param type name`, `@return type name`), from
//! which the signatures are checked.

use super::methods::MethodInfo;

/// corral's methods, in `system.listMethods` order (after supervisord's).
pub(super) static CORRAL_METHODS: &[MethodInfo] = &[
    MethodInfo {
        name: "corral.getVersion",
        signature: &["string"],
        help: " Return the version of corral serving this API (supervisor.getSupervisorVersion\n        answers 4.3.0, the supervisord version corral is compatible with).\n\n        @return string version\n        ",
    },
    MethodInfo {
        name: "corral.rollingRestart",
        signature: &["array", "string", "int", "int"],
        help: " Restart processes without a gap: for each one, start a replacement, wait until it\n        is ready (its readiness check, and up for startsecs), then stop the old one with its\n        stopsignal and stopwaitsecs. A process that is not running is started. The first\n        failure ends the rollout; the old process of a failed replacement keeps serving.\n\n        @param string name          process (or 'group:name'), 'group:*', group, or 'all'\n        @param int max_surge        replacements running at once (default 1)\n        @param int max_unavailable  processes that may instead be stopped first (default 0)\n        @return array result        {name, group, status, description, old_pid, new_pid} per process\n        ",
    },
    MethodInfo {
        name: "corral.rollingUpdate",
        signature: &["array", "string", "int", "int"],
        help: " Apply a changed group's new configuration (after supervisor.reloadConfig) without a\n        gap, as rollingRestart does. When only numprocs= changed, the processes beyond the new\n        count are stopped (highest process_num first) and new ones started, the others keep\n        running (old_pid or new_pid is 0 for them). Fails with FAILED when the group's processes\n        changed otherwise (names or kind): then remove and add it as supervisorctl update does.\n\n        @param string name          the group\n        @param int max_surge        replacements running at once (default 1)\n        @param int max_unavailable  processes that may instead be stopped first (default 0)\n        @return array result        {name, group, status, description, old_pid, new_pid} per process\n        ",
    },
    MethodInfo {
        name: "corral.scaleProgram",
        signature: &["struct", "string", "int"],
        help: " Run n processes of a program ([program:x] or [fcgi-program:x], its own group) until\n        the next update that changes it. New processes get the next process_num (names, logs and\n        expansions as numprocs=n would give them) and are started through their readiness\n        rule; the call returns once they are RUNNING or failed. Scaling down stops the highest\n        process_num first, each with its stop sequence. Fails with BAD_NAME for an unknown\n        group, FAILED when it can't be scaled (an eventlistener pool, a [group:x], a file\n        changed since it was read).\n\n        @param string name  the program\n        @param int n        how many processes (0 or more)\n        @return struct result  {name, from, to, processes: [{name, group, namespec, action\n                               (started or stopped), status, description, pid}]}\n        ",
    },
    MethodInfo {
        name: "corral.getDependencies",
        signature: &["array"],
        help: " The dependency graph of the running programs (depends_on=), in start order.\n\n        @return array programs  {name, start_position, processes, depends_on: [{name, condition,\n                                state (met, waiting or blocked), reason}], required_by,\n                                waiting (what its processes wait for, or '')}\n        ",
    },
    MethodInfo {
        name: "corral.upgrade",
        signature: &["boolean", "string"],
        help: " Replace corrald's binary in place: same pid, every program, socket and log kept.\n        The new binary is checked first (it must read the configuration and the state);\n        if the check fails nothing changes and the reason comes back as a FAILED fault.\n        True means the check passed and the hand-over follows: the daemon answers again\n        under the same pid once the new binary runs.\n\n        @param string binary   the new binary ('' or none: the one corrald was started as)\n        @return boolean result True once the check passed\n        ",
    },
    MethodInfo {
        name: "corral.getProcessHealth",
        signature: &["struct", "string"],
        help: " What corral's liveness rules know of a process: its health (healthy, unhealthy\n        or unknown) from its health check or watchdog, the last check, consecutive\n        failures, the note status shows, and its restarts counted by reason.\n\n        @param string name      process (or 'group:name')\n        @return struct health   {name, group, namespec, statename, state, check, watchdogsecs,\n                                last_check, last_result, failures, note, restarts: {crash,\n                                health, watchdog, memory, lifetime, manual}}\n        ",
    },
    MethodInfo {
        name: "corral.getAllProcessHealth",
        signature: &["array"],
        help: " corral.getProcessHealth for every process.\n\n        @return array result    one struct per process, as corral.getProcessHealth returns\n        ",
    },
    MethodInfo {
        name: "corral.getImage",
        signature: &["struct"],
        help: " Which corrald image answers: an in-place upgrade (corral.upgrade) keeps the pid\n        and starts a new image.\n\n        @return struct image    {version, pid, started (Unix seconds, this image)}\n        ",
    },
];
