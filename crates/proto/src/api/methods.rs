//! The `system.listMethods` / `methodHelp` / `methodSignature` answers.
//!
//! supervisord derives them at run time from its Python docstrings; corral answers from a
//! table collected from supervisord 4.3.0 itself (`tools/gen_method_table.py`), so that the
//! strings are exactly the same, leading spaces and trailing indentation included.

/// One XML-RPC method: its name, `[return type, param types...]`, and help text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodInfo {
    pub name: &'static str,
    pub signature: &'static [&'static str],
    pub help: &'static str,
}

/// supervisord's methods, sorted by name as its `system.listMethods` returns them.
pub fn methods() -> &'static [MethodInfo] {
    super::method_table::METHODS
}

/// Every method corrald serves: supervisord's, then corral's own (`corral.*`).
pub fn all_methods() -> impl Iterator<Item = &'static MethodInfo> {
    methods()
        .iter()
        .chain(super::corral_methods::CORRAL_METHODS.iter())
}

/// `system.listMethods`.
pub fn list_methods() -> Vec<&'static str> {
    all_methods().map(|m| m.name).collect()
}

pub fn method_info(name: &str) -> Option<&'static MethodInfo> {
    all_methods().find(|m| m.name == name)
}

/// `system.methodHelp(name)`; `None` means supervisord's `SIGNATURE_UNSUPPORTED` fault.
pub fn method_help(name: &str) -> Option<&'static str> {
    method_info(name).map(|m| m.help)
}

/// `system.methodSignature(name)`; `None` means `SIGNATURE_UNSUPPORTED`.
pub fn method_signature(name: &str) -> Option<&'static [&'static str]> {
    method_info(name).map(|m| m.signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_complete_and_consistent() {
        let names: Vec<&str> = methods().iter().map(|m| m.name).collect();
        assert_eq!(names.len(), 41);
        assert!(names.windows(2).all(|w| w[0] < w[1]), "not sorted/unique");
        for n in [
            "supervisor.getState",
            "supervisor.tailProcessStdoutLog",
            "system.multicall",
            "supervisor.getVersion",
        ] {
            assert!(names.contains(&n), "{n}");
        }
        for m in all_methods() {
            // The signature is what supervisord parses out of the help text's @tags.
            let ret = m
                .help
                .lines()
                .map(str::trim)
                .find_map(|l| l.strip_prefix("@return "));
            let ret_type = ret.and_then(|r| r.split_whitespace().next());
            assert_eq!(ret_type, Some(m.signature[0]), "{}", m.name);
            let params: Vec<&str> = m
                .help
                .lines()
                .map(str::trim)
                .filter_map(|l| l.strip_prefix("@param "))
                .filter_map(|p| p.split_whitespace().next())
                .collect();
            assert_eq!(params, m.signature[1..], "{}", m.name);
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(
            method_signature("supervisor.getProcessInfo"),
            Some(&["struct", "string"][..])
        );
        assert_eq!(method_signature("supervisor.nope"), None);
        assert!(
            method_help("system.multicall")
                .unwrap()
                .contains("{'methodName'")
        );
        assert_eq!(method_help("nope"), None);
    }
}
