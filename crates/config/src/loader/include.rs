//! The files: the main one, then what its `[include] files=` globs name
//! (`ServerOptions.read_config` up to the `[supervisord]` check). Each file's `%(here)s` is
//! its own directory.

use crate::{pyformat, pypath, pystr};

use super::{Loader, Loc, unreadable};

impl Loader<'_> {
    fn read_text(&mut self, path: &str, loc: Loc) -> Option<String> {
        let bytes = match self.host.read_file(path) {
            Ok(b) => b,
            Err(e) => {
                self.error_at(loc, unreadable(path, &e), false);
                return None;
            }
        };
        match String::from_utf8(bytes) {
            Ok(t) => Some(t),
            Err(e) => {
                let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
                self.error_at(
                    Loc {
                        file: Some(pypath::abspath(path, &self.cwd)),
                        line: Some(line),
                        ..Loc::default()
                    },
                    format!(
                        "the file is not valid UTF-8 (byte {} of line {line})",
                        valid.len() + 1
                            - valid.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1)
                    ),
                    false,
                );
                None
            }
        }
    }

    fn parse_into_ini(&mut self, text: &str, fpname: &str, abs: &str) -> Vec<(String, usize)> {
        for e in self.ini.read(text, fpname, abs) {
            let loc = Loc {
                file: Some(abs.to_string()),
                line: Some(e.line),
                ..Loc::default()
            };
            self.error_at(loc, e.python_message(), false);
        }
        self.ini.last_headers()
    }

    /// `read_config` up to the `[supervisord]` check: the main file and its includes.
    pub(super) fn read_files(&mut self) -> bool {
        let main_loc = Loc {
            file: Some(self.configfile.clone()),
            ..Loc::default()
        };
        let given = self.given.clone();
        let Some(text) = self.read_text(&given, main_loc) else {
            return false;
        };
        let abs = self.configfile.clone();
        self.files.push(abs.clone());
        self.parse_into_ini(&text, &given, &abs);

        if !self.ini.has_section("include") {
            return true;
        }
        let here = self.here.clone();
        self.ini.expand_here(&here);
        let Some(files) = self.ini.get("include", "files").map(|o| o.value.clone()) else {
            let loc = self.section_loc("include");
            let msg = ".ini file has [include] section, but no files setting";
            self.error_at(loc, msg, false);
            return true;
        };
        match pyformat::expand(&files, &self.here_node_environ(), "include.files") {
            Ok(files) => self.read_includes(&files),
            Err(e) => {
                let loc = self.loc("include", "files");
                self.error_at(loc, e.to_string(), false);
            }
        }
        true
    }

    fn read_includes(&mut self, files: &str) {
        let base = pypath::dirname(&self.configfile);
        let include_loc = self.loc("include", "files");
        for pattern in files.split(pystr::is_space).filter(|p| !p.is_empty()) {
            let pattern = pypath::join(&base, pattern);
            let mut filenames = crate::pyglob::glob(self.host, &pattern);
            if filenames.is_empty() {
                self.warnings
                    .push(format!("No file matches via include \"{pattern}\""));
                continue;
            }
            filenames.sort();
            for filename in filenames {
                self.infos
                    .push(format!("Included extra file \"{filename}\" during parsing"));
                if self.host.is_dir(&filename) {
                    // configparser's read() skips what it cannot open, directories included.
                    self.corral_warning_at(
                        &include_loc,
                        &format!(
                            "[include] files: {filename} is a directory; skipped (as supervisord does)"
                        ),
                    );
                    continue;
                }
                let abs = pypath::abspath(&filename, &self.cwd);
                let Some(text) = self.read_text(&filename, include_loc.clone()) else {
                    continue;
                };
                self.files.push(abs.clone());
                let headers = self.parse_into_ini(&text, &filename, &abs);
                for (name, line) in headers {
                    if name == "include" {
                        self.corral_warning(
                            &abs,
                            line,
                            "[include] in an included file is ignored \
                             (supervisord only reads the main file's [include])",
                        );
                    }
                }
                let dir = pypath::dirname(&abs);
                self.ini.expand_here(&dir);
            }
        }
    }
}
