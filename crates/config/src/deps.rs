//! `depends_on=`: its syntax, and the graph of programs it makes (names, cycles, start
//! order). Pure: corrald's supervisor acts on it, `corrald --check` prints it.
//!
//! A node is a program (a `[program:x]`, `[fcgi-program:x]` or `[eventlistener:x]`
//! section): `depends_on = db` means every process of `db`. Start order is a topological
//! order in which programs with no dependency between them keep supervisord's order
//! (group priority, then name).

use std::collections::BTreeSet;

use crate::model::{Condition, Config, Dependency, ProcessConfig};
use crate::pystr;

const FORMS: &str = "NAME or NAME:CONDITION, CONDITION one of started, ready, healthy, completed";

/// A `depends_on=` value: `db, cache:started, migrate:completed`.
pub fn parse_depends_on(v: &str) -> Result<Vec<Dependency>, String> {
    let mut out: Vec<Dependency> = Vec::new();
    for entry in v.split(',') {
        let entry = pystr::strip(entry);
        if entry.is_empty() {
            if v.split(',').count() == 1 {
                return Err("depends_on is empty".into());
            }
            return Err(format!(
                "an empty entry in depends_on {} (expected {FORMS})",
                pystr::repr(v)
            ));
        }
        let (name, condition) = match entry.split_once(':') {
            Some((n, c)) => {
                let c = pystr::strip(c);
                let Some(cond) = Condition::from_word(&pystr::lower(c)) else {
                    return Err(format!(
                        "unknown condition {} in depends_on entry {} (expected {FORMS})",
                        pystr::repr(c),
                        pystr::repr(entry)
                    ));
                };
                (pystr::strip(n), cond)
            }
            None => (entry, Condition::Ready),
        };
        if name.is_empty() || name.chars().any(|c| pystr::is_space(c) || c == '/') {
            return Err(format!(
                "invalid program name {} in depends_on (expected {FORMS})",
                pystr::repr(name)
            ));
        }
        if out.iter().any(|d| d.program == name) {
            return Err(format!("depends_on names {name} twice"));
        }
        out.push(Dependency {
            program: name.to_string(),
            condition,
        });
    }
    Ok(out)
}

/// One program of the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub depends_on: Vec<Dependency>,
}

/// The programs of a configuration and what each depends on, in supervisord's order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
}

impl Graph {
    /// Every program of `config` (in the order supervisord starts them: by group, then by
    /// process), with its `depends_on`.
    pub fn of(config: &Config) -> Graph {
        Graph::of_processes(config.processes())
    }

    /// The graph of these processes' programs, in their order.
    pub fn of_processes<'a>(processes: impl IntoIterator<Item = &'a ProcessConfig>) -> Graph {
        let mut g = Graph::default();
        for p in processes {
            let name = p.program_name();
            if g.node(name).is_none() {
                g.nodes.push(Node {
                    name: name.to_string(),
                    depends_on: p.depends_on.clone(),
                });
            }
        }
        g
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// No program depends on anything.
    pub fn is_trivial(&self) -> bool {
        self.nodes.iter().all(|n| n.depends_on.is_empty())
    }

    /// What `name` depends on directly.
    pub fn depends_on(&self, name: &str) -> &[Dependency] {
        self.node(name).map_or(&[], |n| &n.depends_on)
    }

    /// The programs that depend on `name` directly, in graph order.
    pub fn dependents(&self, name: &str) -> Vec<&str> {
        self.nodes
            .iter()
            .filter(|n| n.depends_on.iter().any(|d| d.program == name))
            .map(|n| n.name.as_str())
            .collect()
    }

    /// Everything `name` depends on, directly or not (without `name`), each once, in
    /// start order.
    pub fn requirements(&self, name: &str) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = self
            .depends_on(name)
            .iter()
            .map(|d| d.program.as_str())
            .collect();
        while let Some(n) = stack.pop() {
            if n != name && seen.insert(n.to_string()) {
                stack.extend(self.depends_on(n).iter().map(|d| d.program.as_str()));
            }
        }
        self.start_order()
            .into_iter()
            .filter(|n| seen.contains(n))
            .collect()
    }

    /// Everything that depends on `name`, directly or not (without `name`).
    pub fn all_dependents(&self, name: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = self.dependents(name);
        while let Some(n) = stack.pop() {
            if n != name && seen.insert(n.to_string()) {
                stack.extend(self.dependents(n));
            }
        }
        seen
    }

    /// A cycle, as the names along it with the first repeated at the end
    /// (`a -> b -> a` is `[a, b, a]`); the first one found in graph order. Names that are
    /// not programs of the graph are ignored.
    pub fn cycle(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        fn visit(
            g: &Graph,
            i: usize,
            marks: &mut [Mark],
            path: &mut Vec<usize>,
        ) -> Option<Vec<String>> {
            marks[i] = Mark::Open;
            path.push(i);
            for d in &g.nodes[i].depends_on {
                let Some(j) = g.nodes.iter().position(|n| n.name == d.program) else {
                    continue;
                };
                match marks[j] {
                    Mark::Open => {
                        let from = path.iter().position(|&k| k == j).unwrap_or(0);
                        let mut names: Vec<String> = path[from..]
                            .iter()
                            .map(|&k| g.nodes[k].name.clone())
                            .collect();
                        names.push(g.nodes[j].name.clone());
                        return Some(names);
                    }
                    Mark::New => {
                        if let Some(c) = visit(g, j, marks, path) {
                            return Some(c);
                        }
                    }
                    Mark::Done => {}
                }
            }
            path.pop();
            marks[i] = Mark::Done;
            None
        }
        let mut marks = vec![Mark::New; self.nodes.len()];
        for i in 0..self.nodes.len() {
            if marks[i] == Mark::New {
                if let Some(c) = visit(self, i, &mut marks, &mut Vec::new()) {
                    return Some(c);
                }
            }
        }
        None
    }

    /// The programs in start order: each after what it depends on; otherwise in graph
    /// order (supervisord's). Programs on a cycle come last, in graph order.
    pub fn start_order(&self) -> Vec<String> {
        let n = self.nodes.len();
        let index = |name: &str| self.nodes.iter().position(|x| x.name == name);
        let mut placed = vec![false; n];
        let mut out = Vec::with_capacity(n);
        loop {
            // The first program (in graph order) whose dependencies are all placed.
            let next = (0..n).find(|&i| {
                !placed[i]
                    && self.nodes[i]
                        .depends_on
                        .iter()
                        .all(|d| index(&d.program).is_none_or(|j| placed[j]))
            });
            match next {
                Some(i) => {
                    placed[i] = true;
                    out.push(self.nodes[i].name.clone());
                }
                None => break,
            }
        }
        for (node, placed) in self.nodes.iter().zip(placed) {
            if !placed {
                out.push(node.name.clone());
            }
        }
        out
    }
}

/// `a -> b -> a`.
pub fn cycle_text(cycle: &[String]) -> String {
    cycle.join(" -> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(p: &str, c: Condition) -> Dependency {
        Dependency {
            program: p.into(),
            condition: c,
        }
    }

    fn graph(edges: &[(&str, &[&str])]) -> Graph {
        Graph {
            nodes: edges
                .iter()
                .map(|(n, ds)| Node {
                    name: n.to_string(),
                    depends_on: ds.iter().map(|d| dep(d, Condition::Ready)).collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn syntax() {
        assert_eq!(
            parse_depends_on("db, cache:started , migrate:Completed,h:healthy,r:ready"),
            Ok(vec![
                dep("db", Condition::Ready),
                dep("cache", Condition::Started),
                dep("migrate", Condition::Completed),
                dep("h", Condition::Healthy),
                dep("r", Condition::Ready),
            ])
        );
        assert_eq!(parse_depends_on(""), Err("depends_on is empty".into()));
        assert!(
            parse_depends_on("db,,x")
                .unwrap_err()
                .contains("empty entry")
        );
        let e = parse_depends_on("db:up").unwrap_err();
        assert!(
            e.contains("unknown condition 'up'") && e.contains("started, ready"),
            "{e}"
        );
        assert_eq!(
            parse_depends_on("db, db:started"),
            Err("depends_on names db twice".into())
        );
        assert!(
            parse_depends_on(":ready")
                .unwrap_err()
                .contains("invalid program name")
        );
        assert!(
            parse_depends_on("a b")
                .unwrap_err()
                .contains("invalid program name")
        );
    }

    #[test]
    fn start_order_keeps_supervisords_order_where_it_can() {
        // supervisord's order: web, db, cache, migrate, tool
        let g = graph(&[
            ("web", &["db", "migrate"]),
            ("db", &[]),
            ("cache", &[]),
            ("migrate", &["db"]),
            ("tool", &[]),
        ]);
        assert_eq!(
            g.start_order(),
            vec!["db", "cache", "migrate", "web", "tool"]
        );
        assert_eq!(g.requirements("web"), vec!["db", "migrate"]);
        assert_eq!(g.dependents("db"), vec!["web", "migrate"]);
        assert_eq!(
            g.all_dependents("db").into_iter().collect::<Vec<_>>(),
            vec!["migrate", "web"]
        );
        assert_eq!(g.cycle(), None);
        assert!(!g.is_trivial());
        assert!(graph(&[("a", &[]), ("b", &[])]).is_trivial());
    }

    #[test]
    fn cycles_are_named_along_the_way() {
        let g = graph(&[("x", &[]), ("a", &["b"]), ("b", &["c"]), ("c", &["a"])]);
        assert_eq!(cycle_text(&g.cycle().unwrap()), "a -> b -> c -> a");
        let g = graph(&[("a", &["a"])]);
        assert_eq!(cycle_text(&g.cycle().unwrap()), "a -> a");
        let g = graph(&[("a", &["b"]), ("b", &["a"]), ("c", &["a"])]);
        assert_eq!(cycle_text(&g.cycle().unwrap()), "a -> b -> a");
        // Unknown names are the loader's business, not a cycle.
        assert_eq!(graph(&[("a", &["zz"])]).cycle(), None);
        assert_eq!(
            graph(&[("a", &["b"]), ("b", &["a"])]).start_order(),
            vec!["a", "b"]
        );
    }
}
