//! Process names as supervisor writes them (`supervisor/options.py`).

/// `make_namespec`: `group:process`, or just the process name when the group is named
/// after it (a `[program:x]` section makes group `x` with process `x`).
pub fn make_namespec(group: &str, process: &str) -> String {
    if group == process {
        process.to_owned()
    } else {
        format!("{group}:{process}")
    }
}

/// `split_namespec`: `"g:p"` is group `g`, process `p`; `"g:"` and `"g:*"` mean every
/// process in `g` (process `None`); a name without `:` is both group and process. Only the
/// first `:` splits.
pub fn split_namespec(namespec: &str) -> (String, Option<String>) {
    match namespec.split_once(':') {
        Some((group, process)) => {
            let process = (!process.is_empty() && process != "*").then(|| process.to_owned());
            (group.to_owned(), process)
        }
        None => (namespec.to_owned(), Some(namespec.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespecs() {
        assert_eq!(make_namespec("cat", "cat"), "cat");
        assert_eq!(make_namespec("web", "web_00"), "web:web_00");
        assert_eq!(
            split_namespec("web:web_00"),
            ("web".into(), Some("web_00".into()))
        );
        assert_eq!(split_namespec("web:"), ("web".into(), None));
        assert_eq!(split_namespec("web:*"), ("web".into(), None));
        assert_eq!(split_namespec("cat"), ("cat".into(), Some("cat".into())));
        assert_eq!(split_namespec("a:b:c"), ("a".into(), Some("b:c".into())));
        assert_eq!(split_namespec(":x"), ("".into(), Some("x".into())));
        assert_eq!(split_namespec(""), ("".into(), Some("".into())));
    }
}
