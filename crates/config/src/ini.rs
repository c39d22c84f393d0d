//! Python 3's `configparser.RawConfigParser`, configured as supervisord's
//! `UnhosedConfigParser` configures it (`inline_comment_prefixes=(';', '#')`, `strict=False`,
//! everything else default: `=`/`:` delimiters, `#`/`;` full-line comments,
//! `empty_lines_in_values=True`, no `allow_no_value`, `[DEFAULT]` as the default section,
//! keys lower-cased, no interpolation), plus what supervisord needs beyond it: the file and
//! line of every option and section, and `section_to_file`.
//!
//! The reader is the same state machine as `RawConfigParser._read` (CPython 3.11), line for
//! line, so that every odd input (continuations after comments, inline comments that win
//! over quotes, section headers followed by text, `[DEFAULT]` leaking into every section)
//! means what it means to supervisord. Where Python stops (a missing section header), this
//! reader records the error and goes on, so that one run reports every problem.

use crate::pystr;

/// One `key = value` as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniOption {
    pub key: String,
    /// The value as `get()` returns it (continuation lines joined with `\n`).
    pub value: String,
    /// File and 1-based line of the assignment that set the value.
    pub file: String,
    pub line: usize,
    /// Lines of a value still being read (joined when the file ends).
    pending: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniSection {
    pub name: String,
    /// The file and header line that first introduced the section (supervisord's
    /// `section_to_file` records the first file too).
    pub file: String,
    pub line: usize,
    options: Vec<IniOption>,
}

/// Python dict semantics: a new key goes last, an existing key keeps its place.
fn assign(options: &mut Vec<IniOption>, opt: IniOption) {
    match options.iter().position(|o| o.key == opt.key) {
        Some(i) => options[i] = opt,
        None => options.push(opt),
    }
}

/// What went wrong on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IniErrorKind {
    /// `MissingSectionHeaderError`: an option (or anything) before the first `[section]`.
    MissingSectionHeader,
    /// One of the lines a `ParsingError` lists: neither a section header, an option nor a
    /// continuation.
    Parsing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniError {
    pub kind: IniErrorKind,
    /// The name the file was read under (`fpname` in configparser).
    pub source: String,
    pub line: usize,
    /// The raw line, newline included, as Python reports it (`repr(line)`).
    pub text: String,
}

impl IniError {
    /// The message Python's exception would carry if this were the only bad line.
    pub fn python_message(&self) -> String {
        match self.kind {
            IniErrorKind::MissingSectionHeader => format!(
                "File contains no section headers.\nfile: {}, line: {}\n{}",
                pystr::repr(&self.source),
                self.line,
                pystr::repr(&self.text)
            ),
            IniErrorKind::Parsing => format!(
                "Source contains parsing errors: {}\n\t[line {:2}]: {}",
                pystr::repr(&self.source),
                self.line,
                pystr::repr(&self.text)
            ),
        }
    }
}

/// The name configparser gives the default section.
pub const DEFAULT_SECTION: &str = "DEFAULT";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ini {
    sections: Vec<IniSection>,
    defaults: Vec<IniOption>,
    /// Section headers (name, line) of the last file read.
    last_headers: Vec<(String, usize)>,
    /// Lines where an inline comment started inside what looks like a quoted string.
    cut_quotes: Vec<CutQuote>,
}

/// An inline comment (`;` or `#` after whitespace) that configparser found inside an
/// unclosed quote, so the value was cut there: `command=sh -c "a ; b"` reads `sh -c "a`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutQuote {
    pub file: String,
    pub line: usize,
    pub section: String,
    pub key: String,
    /// What configparser dropped, from the comment prefix to the end of the line.
    pub dropped: String,
}

/// Whether a quote opened in `text` is still open at its end.
fn ends_inside_quote(text: &[char]) -> bool {
    let mut open: Option<char> = None;
    for &c in text {
        match open {
            None if c == '"' || c == '\'' => open = Some(c),
            Some(q) if q == c => open = None,
            _ => {}
        }
    }
    open.is_some()
}

/// Split text into lines the way Python's text-mode file iteration does (universal
/// newlines: `\r\n`, `\r` and `\n` all end a line and read as `\n`).
pub fn python_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                cur.push('\n');
                lines.push(std::mem::take(&mut cur));
            }
            '\n' => {
                cur.push('\n');
                lines.push(std::mem::take(&mut cur));
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// Where an inline comment starts, by configparser's own search: each round advances every
/// prefix to its next occurrence, and the first round in which some occurrence is at the
/// start of the line or follows whitespace decides (the earliest of that round). This is
/// not always the earliest such occurrence overall, and that quirk is kept.
fn inline_comment_start(line: &[char]) -> Option<usize> {
    let mut prefixes: Vec<(char, isize)> = vec![(';', -1), ('#', -1)];
    let mut comment_start: Option<usize> = None;
    while comment_start.is_none() && !prefixes.is_empty() {
        let mut next = Vec::new();
        for &(p, index) in &prefixes {
            let from = (index + 1) as usize;
            let found = line
                .iter()
                .skip(from)
                .position(|&c| c == p)
                .map(|i| i + from);
            let Some(i) = found else { continue };
            next.push((p, i as isize));
            if i == 0 || pystr::is_space(line[i - 1]) {
                comment_start = Some(comment_start.map_or(i, |c: usize| c.min(i)));
            }
        }
        prefixes = next;
    }
    comment_start
}

/// `OPTCRE`: `(?P<option>.*?)\s*(?P<vi>=|:)\s*(?P<value>.*)$`: the key is everything before
/// the first `=` or `:`.
fn split_option(value: &str) -> Option<(String, String)> {
    let pos = value.find(['=', ':'])?;
    let option = pystr::rstrip(&value[..pos]).to_string();
    let rest = value[pos + 1..].trim_start_matches(pystr::is_space);
    Some((option, rest.to_string()))
}

enum Cursor {
    None,
    Defaults,
    Section(usize),
}

impl Ini {
    pub fn new() -> Self {
        Self::default()
    }

    /// `RawConfigParser._read(fp, fpname)` on the text of one file. `file` is recorded as
    /// the location of what this file defines (an absolute path); `fpname` is the name used
    /// in Python's messages. Returns the errors; what could be read is kept either way.
    pub fn read(&mut self, text: &str, fpname: &str, file: &str) -> Vec<IniError> {
        let mut errors = Vec::new();
        let mut cursect = Cursor::None;
        let mut optname: Option<String> = None;
        let mut indent_level: usize = 0;
        // After a missing section header Python gives up on the file; we skip to the next
        // header instead so that the rest of the file is checked too.
        let mut skipping = false;
        self.last_headers.clear();
        for (idx, line) in python_lines(text).iter().enumerate() {
            let lineno = idx + 1;
            let error = |kind| IniError {
                kind,
                source: fpname.to_string(),
                line: lineno,
                text: line.clone(),
            };
            let chars: Vec<char> = line.chars().collect();
            let mut comment_start = inline_comment_start(&chars);
            let stripped = pystr::strip(line);
            if stripped.starts_with('#') || stripped.starts_with(';') {
                comment_start = Some(0);
            }
            let cut = comment_start
                // The comment began inside quotes, or what it dropped closes a quote.
                .filter(|&c| {
                    c > 0 && (ends_inside_quote(&chars[..c]) || ends_inside_quote(&chars[c..]))
                })
                .map(|c| chars[c..].iter().collect::<String>().trim_end().to_string());
            let head: String = match comment_start {
                Some(c) => chars[..c].iter().collect(),
                None => line.clone(),
            };
            let value = pystr::strip(&head).to_string();
            if value.is_empty() {
                // empty_lines_in_values: a blank line (not a comment) is part of the value.
                if comment_start.is_none() {
                    if let Some(p) = self.pending_lines(&cursect, optname.as_deref()) {
                        p.push(String::new());
                    }
                }
                continue;
            }
            let cur_indent = chars.iter().position(|&c| !pystr::is_space(c)).unwrap_or(0);
            let continuation = !matches!(cursect, Cursor::None)
                && optname.as_deref().is_some_and(|n| !n.is_empty())
                && cur_indent > indent_level;
            if continuation {
                if let Some(dropped) = cut {
                    let name = optname.as_deref().unwrap_or_default();
                    self.record_cut(&cursect, file, lineno, name, dropped);
                }
                if let Some(p) = self.pending_lines(&cursect, optname.as_deref()) {
                    p.push(value);
                }
                continue;
            }
            indent_level = cur_indent;
            // SECTCRE: `\[(?P<header>.+)\]` matched at the start, greedy, not anchored at
            // the end: the header runs to the last `]`.
            if let Some(header) = value
                .strip_prefix('[')
                .and_then(|rest| rest.rfind(']').map(|end| &rest[..end]))
                .filter(|h| !h.is_empty())
            {
                skipping = false;
                self.last_headers.push((header.to_string(), lineno));
                if header == DEFAULT_SECTION {
                    cursect = Cursor::Defaults;
                } else if let Some(i) = self.sections.iter().position(|s| s.name == header) {
                    cursect = Cursor::Section(i);
                } else {
                    self.sections.push(IniSection {
                        name: header.to_string(),
                        file: file.to_string(),
                        line: lineno,
                        options: Vec::new(),
                    });
                    cursect = Cursor::Section(self.sections.len() - 1);
                }
                optname = None;
                continue;
            }
            if skipping {
                continue;
            }
            if matches!(cursect, Cursor::None) {
                errors.push(error(IniErrorKind::MissingSectionHeader));
                skipping = true;
                continue;
            }
            match split_option(&value) {
                Some((option, optval)) => {
                    if option.is_empty() {
                        errors.push(error(IniErrorKind::Parsing));
                    }
                    let key = pystr::lower(&option);
                    if let Some(dropped) = cut {
                        self.record_cut(&cursect, file, lineno, &key, dropped);
                    }
                    let opt = IniOption {
                        key: key.clone(),
                        value: String::new(),
                        file: file.to_string(),
                        line: lineno,
                        pending: Some(vec![pystr::strip(&optval).to_string()]),
                    };
                    match cursect {
                        Cursor::Defaults => assign(&mut self.defaults, opt),
                        Cursor::Section(i) => assign(&mut self.sections[i].options, opt),
                        Cursor::None => {}
                    }
                    optname = Some(key);
                }
                None => errors.push(error(IniErrorKind::Parsing)),
            }
        }
        self.join_multiline_values();
        errors
    }

    fn record_cut(
        &mut self,
        cursect: &Cursor,
        file: &str,
        line: usize,
        key: &str,
        dropped: String,
    ) {
        let section = match cursect {
            Cursor::Section(i) => self.sections[*i].name.clone(),
            Cursor::Defaults => DEFAULT_SECTION.to_string(),
            Cursor::None => return,
        };
        self.cut_quotes.push(CutQuote {
            file: file.to_string(),
            line,
            section,
            key: key.to_string(),
            dropped,
        });
    }

    /// Inline comments that cut a quoted value, in the order read.
    pub fn cut_quotes(&self) -> &[CutQuote] {
        &self.cut_quotes
    }

    /// The lines of the value being read (option `name` of the current section), if any.
    fn pending_lines(&mut self, cursect: &Cursor, name: Option<&str>) -> Option<&mut Vec<String>> {
        let name = name.filter(|n| !n.is_empty())?;
        let options = match cursect {
            Cursor::None => return None,
            Cursor::Defaults => &mut self.defaults,
            Cursor::Section(i) => &mut self.sections[*i].options,
        };
        options.iter_mut().find(|o| o.key == name)?.pending.as_mut()
    }

    /// `_join_multiline_values`: `'\n'.join(lines).rstrip()`.
    fn join_multiline_values(&mut self) {
        let all = self
            .defaults
            .iter_mut()
            .chain(self.sections.iter_mut().flat_map(|s| s.options.iter_mut()));
        for opt in all {
            if let Some(lines) = opt.pending.take() {
                opt.value = pystr::rstrip(&lines.join("\n")).to_string();
            }
        }
    }

    /// The section headers of the last file read, with their lines.
    pub fn last_headers(&self) -> Vec<(String, usize)> {
        self.last_headers.clone()
    }

    /// `sections()`: every section but `[DEFAULT]`, in the order first seen.
    pub fn sections(&self) -> impl Iterator<Item = &IniSection> {
        self.sections.iter()
    }

    pub fn section_names(&self) -> Vec<String> {
        self.sections.iter().map(|s| s.name.clone()).collect()
    }

    pub fn section(&self, name: &str) -> Option<&IniSection> {
        self.sections.iter().find(|s| s.name == name)
    }

    pub fn has_section(&self, name: &str) -> bool {
        self.section(name).is_some()
    }

    /// `get(section, key)`: the section's own value, else `[DEFAULT]`'s.
    pub fn get(&self, section: &str, key: &str) -> Option<&IniOption> {
        if section == DEFAULT_SECTION {
            return self.defaults.iter().find(|o| o.key == key);
        }
        let s = self.section(section)?;
        s.options
            .iter()
            .find(|o| o.key == key)
            .or_else(|| self.defaults.iter().find(|o| o.key == key))
    }

    pub fn has_option(&self, section: &str, key: &str) -> bool {
        self.get(section, key).is_some()
    }

    /// `options(section)`: the section's keys, then `[DEFAULT]`'s that it lacks.
    pub fn options(&self, section: &str) -> Vec<&IniOption> {
        let Some(s) = self.section(section) else {
            return Vec::new();
        };
        let mut out: Vec<&IniOption> = s.options.iter().collect();
        for d in &self.defaults {
            if !s.options.iter().any(|o| o.key == d.key) {
                out.push(d);
            }
        }
        out
    }

    /// `set(section, key, value)` keeping the location of the option it replaces.
    pub fn set(&mut self, section: &str, key: &str, value: String) {
        let template = self.get(section, key).cloned();
        let Some(i) = self.sections.iter().position(|s| s.name == section) else {
            return;
        };
        let opt = match template {
            Some(mut o) => {
                o.value = value;
                o
            }
            None => IniOption {
                key: key.to_string(),
                value,
                file: String::new(),
                line: 0,
                pending: None,
            },
        };
        assign(&mut self.sections[i].options, opt);
    }

    /// supervisord's `expand_here`: textual replacement of `%(here)s` in every value of
    /// every section (`[DEFAULT]` values are copied into each section that sees them).
    pub fn expand_here(&mut self, here: &str) {
        const HERE_FORMAT: &str = "%(here)s";
        let names = self.section_names();
        for name in names {
            let keys: Vec<String> = self.options(&name).iter().map(|o| o.key.clone()).collect();
            for key in keys {
                let Some(value) = self.get(&name, &key).map(|o| o.value.clone()) else {
                    continue;
                };
                if value.contains(HERE_FORMAT) {
                    self.set(&name, &key, value.replace(HERE_FORMAT, here));
                }
            }
        }
    }

    /// Every `(section, key, value)` including `[DEFAULT]` as its own section (for tests).
    pub fn dump(&self) -> Vec<(String, Vec<(String, String)>)> {
        let mut out = vec![(
            DEFAULT_SECTION.to_string(),
            self.defaults
                .iter()
                .map(|o| (o.key.clone(), o.value.clone()))
                .collect(),
        )];
        for s in &self.sections {
            out.push((
                s.name.clone(),
                s.options
                    .iter()
                    .map(|o| (o.key.clone(), o.value.clone()))
                    .collect(),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Ini, Vec<IniError>) {
        let mut ini = Ini::new();
        let errs = ini.read(text, "f.conf", "/x/f.conf");
        (ini, errs)
    }

    fn val(ini: &Ini, s: &str, k: &str) -> Option<String> {
        ini.get(s, k).map(|o| o.value.clone())
    }

    #[test]
    fn continuation_and_comments() {
        let (ini, errs) = parse("[a]\nk = v1\n  v2\n# c\n\n  v3\nx:y ; c\nz=q;r\n");
        assert!(errs.is_empty());
        assert_eq!(val(&ini, "a", "k").unwrap(), "v1\nv2\n\nv3");
        assert_eq!(val(&ini, "a", "x").unwrap(), "y");
        assert_eq!(val(&ini, "a", "z").unwrap(), "q;r");
    }

    #[test]
    fn inline_comments_that_cut_quotes_are_recorded() {
        let (ini, _) = parse("[a]\nk=sh -c \"a ; b\"\nok=x ; y\nq='a' ; b'\nfine=\"a;b\" ; note\n");
        let cuts: Vec<_> = ini
            .cut_quotes()
            .iter()
            .map(|c| (c.line, c.key.as_str(), c.dropped.as_str()))
            .collect();
        assert_eq!(cuts, [(2, "k", "; b\""), (4, "q", "; b'")]);
        assert_eq!(val(&ini, "a", "k").unwrap(), "sh -c \"a");
    }

    #[test]
    fn inline_comment_quirk_round_order() {
        // ';' occurrences at 1 and 6 (the latter after a space), '#' at 9 after a space:
        // Python's first round finds ';'@1 (not a comment) and '#'@9 (a comment) and stops.
        let (ini, _) = parse("[a]\nk=a;b;c ;d #e\n");
        assert_eq!(val(&ini, "a", "k").unwrap(), "a;b;c ;d");
    }

    #[test]
    fn header_runs_to_last_bracket_and_defaults_leak() {
        let (ini, errs) = parse("[DEFAULT]\nd=1\n[a] trailing]x\nK=2\n");
        assert!(errs.is_empty());
        assert_eq!(ini.section_names(), vec!["a] trailing".to_string()]);
        assert_eq!(val(&ini, "a] trailing", "d").unwrap(), "1");
        assert_eq!(val(&ini, "a] trailing", "k").unwrap(), "2");
    }

    #[test]
    fn errors_with_python_text() {
        let (_, errs) = parse("k=v\n[a]\nnovalue\n=x\n");
        assert_eq!(errs.len(), 3);
        assert_eq!(
            errs[0].python_message(),
            "File contains no section headers.\nfile: 'f.conf', line: 1\n'k=v\\n'"
        );
        assert_eq!(
            errs[1].python_message(),
            "Source contains parsing errors: 'f.conf'\n\t[line  3]: 'novalue\\n'"
        );
        assert_eq!(errs[2].line, 4);
    }

    #[test]
    fn crlf_and_lone_cr() {
        let (ini, errs) = parse("[a]\r\nk=v\r\n  w\rz=1");
        assert!(errs.is_empty());
        assert_eq!(val(&ini, "a", "k").unwrap(), "v\nw");
        assert_eq!(val(&ini, "a", "z").unwrap(), "1");
    }

    #[test]
    fn expand_here_copies_defaults() {
        let (mut ini, _) = parse("[DEFAULT]\nd=%(here)s/x\n[a]\nk=%(here)s\n");
        ini.expand_here("/h");
        assert_eq!(val(&ini, "a", "d").unwrap(), "/h/x");
        assert_eq!(val(&ini, "a", "k").unwrap(), "/h");
        assert_eq!(val(&ini, DEFAULT_SECTION, "d").unwrap(), "%(here)s/x");
    }
}
