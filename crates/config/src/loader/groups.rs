//! `process_groups_from_parser`: the `[group:x]` sections, then the implicit group of each
//! `[program:x]` no group took, the `[eventlistener:x]` pools and the `[fcgi-program:x]`
//! groups; sorted by priority, then name.

use std::collections::BTreeMap;

use crate::datatypes as dt;
use crate::model::*;

use super::Loader;

/// Which `[group:x]` first took each program section.
type TakenBy = BTreeMap<String, String>;

impl Loader<'_> {
    pub(super) fn groups(&mut self, sockets: &[SocketConfig]) -> Vec<GroupConfig> {
        let all = self.ini.section_names();
        // supervisord silently runs a program listed in two groups twice, once in each; a
        // program in a group is not a group of its own.
        let mut taken_by = TakenBy::new();
        let mut groups: Vec<GroupConfig> = Vec::new();
        for section in all.iter().filter(|s| s.starts_with("group:")) {
            if let Some(g) = self.heterogeneous_group(section, &all, &mut taken_by, sockets) {
                groups.push(g);
            }
        }
        for section in all.iter().filter(|s| s.starts_with("program:")) {
            if taken_by.contains_key(section) {
                continue;
            }
            if let Some(g) = self.program_group(section, sockets) {
                groups.push(g);
            }
        }
        for section in all.iter().filter(|s| s.starts_with("eventlistener:")) {
            groups.push(self.eventlistener_pool(section, sockets));
        }
        for section in all.iter().filter(|s| s.starts_with("fcgi-program:")) {
            if taken_by.contains_key(section) {
                continue;
            }
            if let Some(g) = self.fcgi_group(section, sockets) {
                groups.push(g);
            }
        }

        // groups.sort(): by priority, then name; stable.
        groups.sort_by(|a, b| {
            a.priority
                .cmp(&b.priority)
                .then_with(|| a.name.cmp(&b.name))
        });
        groups
    }

    /// One `[group:x]`: the processes of each program it lists, in its order.
    fn heterogeneous_group(
        &mut self,
        section: &str,
        all: &[String],
        taken_by: &mut TakenBy,
        sockets: &[SocketConfig],
    ) -> Option<GroupConfig> {
        let group_name = self.section_name(section)?;
        let gnames = self.here_names();
        let programs = self
            .get(section, "programs", None, &gnames, true)
            .ok()
            .flatten()
            .map(|p| dt::list_of_strings(&p))
            .unwrap_or_default();
        let priority = self.conv(section, "priority", "999", &gnames, dt::integer, 999);
        let mut processes = Vec::new();
        for program in programs {
            let Some(psec) = self.group_member(section, &program, all) else {
                continue;
            };
            self.take_for_group(section, &program, &psec, taken_by);
            processes.extend(self.processes_from_section(&psec, &group_name, false, sockets));
        }
        Some(GroupConfig {
            name: group_name,
            priority,
            kind: GroupKind::Heterogeneous,
            processes,
        })
    }

    /// The section a `[group:x] programs=` name stands for: `[program:NAME]` or
    /// `[fcgi-program:NAME]`, exactly one of them.
    fn group_member(&mut self, section: &str, program: &str, all: &[String]) -> Option<String> {
        let program_section = format!("program:{program}");
        let fcgi_section = format!("fcgi-program:{program}");
        let has_p = all.contains(&program_section);
        let has_f = all.contains(&fcgi_section);
        if !has_p && !has_f {
            let loc = self.loc(section, "programs");
            self.error_at(
                loc,
                format!("[{section}] names unknown program or fcgi-program {program}"),
                false,
            );
            return None;
        }
        if has_p && has_f {
            let loc = self.loc(section, "programs");
            self.error_at(
                loc,
                format!(
                    "[{section}] name {program} is ambiguous (exists as program and fcgi-program)"
                ),
                false,
            );
            return None;
        }
        Some(if has_p { program_section } else { fcgi_section })
    }

    /// Records that `section` took `psec`; a program listed a second time (in this group or
    /// another) is run twice, as supervisord does, with a warning.
    fn take_for_group(&mut self, section: &str, program: &str, psec: &str, taken_by: &mut TakenBy) {
        if let Some(first) = taken_by.get(psec) {
            let loc = self.loc(section, "programs");
            let also = if first == section {
                "is listed twice".to_string()
            } else {
                format!("is also in [{first}]")
            };
            self.corral_warning_at(
                &loc,
                &format!(
                    "[{section}] programs: {program} {also}; supervisord runs a second \
                     copy of it there, as corral does (list it in one group only)"
                ),
            );
        } else {
            taken_by.insert(psec.to_string(), section.to_string());
        }
    }

    /// The implicit group of a `[program:x]` that no `[group:x]` took.
    fn program_group(&mut self, section: &str, sockets: &[SocketConfig]) -> Option<GroupConfig> {
        let program_name = self.section_name(section)?;
        let gnames = self.here_names();
        let priority = self.conv(section, "priority", "999", &gnames, dt::integer, 999);
        let processes = self.processes_from_section(section, &program_name, false, sockets);
        Some(GroupConfig {
            name: program_name,
            priority,
            kind: GroupKind::Program,
            processes,
        })
    }
}
