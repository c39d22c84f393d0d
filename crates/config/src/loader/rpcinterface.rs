//! `[rpcinterface:x]`: supervisord imports each one's factory; corral serves its built-in
//! interface only, so anything but supervisord's own factory is an error.

use std::collections::BTreeMap;

use crate::model::*;
use crate::pyformat::Expansions;

use super::{Failed, Loader};

const DEFAULT_RPC_FACTORY: &str = "supervisor.rpcinterface:make_main_rpcinterface";
const RPC_FACTORY_KEY: &str = "supervisor.rpcinterface_factory";

impl Loader<'_> {
    pub(super) fn rpcinterfaces(&mut self) -> Vec<RpcInterfaceConfig> {
        let mut out = Vec::new();
        for section in self.ini.section_names() {
            if !section.starts_with("rpcinterface:") {
                continue;
            }
            if let Some(rpc) = self.rpcinterface(&section) {
                out.push(rpc);
            }
        }
        out
    }

    /// One `[rpcinterface:x]`; `None` when it names no factory.
    fn rpcinterface(&mut self, section: &str) -> Option<RpcInterfaceConfig> {
        let empty = Expansions::new();
        let name = section.split_once(':').map_or("", |x| x.1).to_string();
        let factory = match self.get(section, RPC_FACTORY_KEY, None, &empty, true) {
            Ok(Some(f)) => f,
            Ok(None) => {
                let loc = self.section_loc(section);
                self.error_at(
                    loc,
                    format!("section [{section}] does not specify a {RPC_FACTORY_KEY}"),
                    false,
                );
                return None;
            }
            Err(Failed) => return None,
        };
        if factory != DEFAULT_RPC_FACTORY {
            let loc = self.loc(section, RPC_FACTORY_KEY);
            // supervisord imports it, and refuses to start where it cannot; corral
            // cannot import Python at all. Everything else in the file still reads.
            self.error_at(
                loc,
                format!(
                    "{factory} is a Python plugin, which corral cannot load (it serves \
                     supervisord's built-in interface only); remove [{section}] to run \
                     this file under corral"
                ),
                true,
            );
        }
        let extras = self.rpcinterface_extras(section);
        Some(RpcInterfaceConfig {
            name,
            factory,
            extras,
        })
    }

    /// The section's other keys: the factory's arguments.
    fn rpcinterface_extras(&mut self, section: &str) -> BTreeMap<String, String> {
        let empty = Expansions::new();
        let mut extras = BTreeMap::new();
        let keys: Vec<String> = self
            .ini
            .options(section)
            .iter()
            .map(|o| o.key.clone())
            .collect();
        for k in keys {
            if k == RPC_FACTORY_KEY {
                continue;
            }
            if let Ok(Some(v)) = self.get(section, &k, None, &empty, true) {
                extras.insert(k, v);
            }
        }
        extras
    }
}
