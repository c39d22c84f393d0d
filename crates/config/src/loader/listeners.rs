//! `[eventlistener:x]`: a pool of processes, with the events it subscribes to and how its
//! results are handled.

use crate::datatypes as dt;
use crate::model::*;
use crate::pystr;

use super::Loader;

/// supervisord's event type names (`supervisor.events.EventTypes`).
const EVENT_TYPES: &[&str] = &[
    "EVENT",
    "PROCESS_COMMUNICATION",
    "PROCESS_COMMUNICATION_STDERR",
    "PROCESS_COMMUNICATION_STDOUT",
    "PROCESS_GROUP",
    "PROCESS_GROUP_ADDED",
    "PROCESS_GROUP_REMOVED",
    "PROCESS_LOG",
    "PROCESS_LOG_STDERR",
    "PROCESS_LOG_STDOUT",
    "PROCESS_STATE",
    "PROCESS_STATE_BACKOFF",
    "PROCESS_STATE_EXITED",
    "PROCESS_STATE_FATAL",
    "PROCESS_STATE_RUNNING",
    "PROCESS_STATE_STARTING",
    "PROCESS_STATE_STOPPED",
    "PROCESS_STATE_STOPPING",
    "PROCESS_STATE_UNKNOWN",
    "REMOTE_COMMUNICATION",
    "SUPERVISOR_STATE_CHANGE",
    "SUPERVISOR_STATE_CHANGE_RUNNING",
    "SUPERVISOR_STATE_CHANGE_STOPPING",
    "TICK",
    "TICK_3600",
    "TICK_5",
    "TICK_60",
];

/// corral's own event types (liveness). A listener receives them only when it names them:
/// they are not part of `EVENT`, so a listener written for supervisord sees nothing new.
pub const CORRAL_EVENT_TYPES: &[&str] = &[
    "PROCESS_HEALTH_HEALTHY",
    "PROCESS_HEALTH_UNHEALTHY",
    "PROCESS_RECYCLED",
];

const DEFAULT_RESULT_HANDLER: &str = "supervisor.dispatchers:default_handler";

impl Loader<'_> {
    /// One `[eventlistener:x]` pool and its processes.
    pub(super) fn eventlistener_pool(
        &mut self,
        section: &str,
        sockets: &[SocketConfig],
    ) -> GroupConfig {
        // supervisord does not strip or check the pool name (the process name is).
        let pool_name = section.split_once(':').map_or("", |x| x.1).to_string();
        let gnames = self.here_names();
        let priority = self.conv(section, "priority", "-1", &gnames, dt::integer, -1);
        let buffer_size = self.buffer_size(section);
        let result_handler = self.result_handler(section);
        let events = self.listener_events(section);
        if self.bool_opt(section, "redirect_stderr", "false", &gnames) {
            let loc = self.loc(section, "redirect_stderr");
            self.error_at(
                loc,
                format!(
                    "[{section}] section sets redirect_stderr=true but this is not allowed \
                     because it will interfere with the eventlistener protocol"
                ),
                false,
            );
        }
        let processes = self.processes_from_section(section, &pool_name, true, sockets);
        GroupConfig {
            name: pool_name,
            priority,
            kind: GroupKind::EventListener(EventListenerPool {
                events,
                buffer_size,
                result_handler,
            }),
            processes,
        }
    }

    /// `buffer_size=`: at least 1.
    fn buffer_size(&mut self, section: &str) -> usize {
        let gnames = self.here_names();
        let buffer_size = self.conv(section, "buffer_size", "10", &gnames, dt::integer, 10);
        if buffer_size < 1 {
            let loc = self.loc(section, "buffer_size");
            self.error_at(
                loc,
                format!("[{section}] section sets invalid buffer_size ({buffer_size})"),
                false,
            );
            10
        } else {
            usize::try_from(buffer_size).unwrap_or(10)
        }
    }

    /// `result_handler=`: a Python function, so only supervisord's default one works.
    fn result_handler(&mut self, section: &str) -> String {
        let gnames = self.here_names();
        let result_handler = self
            .get(
                section,
                "result_handler",
                Some(DEFAULT_RESULT_HANDLER),
                &gnames,
                true,
            )
            .ok()
            .flatten()
            .unwrap_or_else(|| DEFAULT_RESULT_HANDLER.into());
        if result_handler != DEFAULT_RESULT_HANDLER {
            let loc = self.loc(section, "result_handler");
            self.error_at(
                loc,
                format!(
                    "{result_handler} is a Python function, which corral cannot call; \
                     remove result_handler= to use supervisord's default handler (OK \
                     accepts, FAIL rejects)"
                ),
                true,
            );
        }
        result_handler
    }

    /// `events=`: required; the known event types, upper-cased, once each, sorted.
    fn listener_events(&mut self, section: &str) -> Vec<String> {
        let gnames = self.here_names();
        let events_raw = self
            .get(section, "events", Some(""), &gnames, true)
            .ok()
            .flatten()
            .unwrap_or_default();
        let mut events: Vec<String> = Vec::new();
        for e in dt::list_of_strings(&events_raw) {
            let e = pystr::upper(&e);
            if !events.contains(&e) {
                events.push(e);
            }
        }
        if events.is_empty() {
            let loc = self.loc(section, "events");
            self.error_at(
                loc,
                format!("[{section}] section requires an \"events\" line"),
                false,
            );
        }
        let mut known = Vec::new();
        for e in events {
            if EVENT_TYPES.contains(&e.as_str()) || CORRAL_EVENT_TYPES.contains(&e.as_str()) {
                known.push(e);
            } else {
                let loc = self.loc(section, "events");
                self.error_at(
                    loc,
                    format!("Unknown event type {e} in [{section}] events"),
                    false,
                );
            }
        }
        known.sort();
        known
    }
}
