//! Command templates and GNU parallel's replacement strings.
//!
//! The command words are joined with spaces into one shell command line (GNU parallel does the
//! same, so `threadkit 'grep x {} | wc -l'` and `threadkit grep x {} '|' wc -l` agree). In it:
//!
//! | string | value (for input `dir/sub/file.tar.gz`) |
//! |--------|------------------------------------------|
//! | `{}`   | the input: `dir/sub/file.tar.gz` (all inputs, space-separated, with several sources) |
//! | `{.}`  | without its extension: `dir/sub/file.tar` |
//! | `{/}`  | basename: `file.tar.gz` |
//! | `{//}` | dirname: `dir/sub` (`.` when there is none) |
//! | `{/.}` | basename without extension: `file.tar` |
//! | `{#}`  | the job's sequence number, from 1 |
//! | `{%}`  | the job slot, from 1 to `-j` |
//! | `{N}`, `{N.}`, `{N/}`, `{N//}`, `{N/.}` | the same for input source N (from 1) |
//!
//! With no replacement string at all, ` {}` is appended. Substituted inputs are shell-quoted
//! (see [`crate::quote`]); `{#}` and `{%}` are numbers and need none. The definitions follow GNU
//! parallel's (`s:\.[^/.]*$::` for `{.}`, `s:.*/::` for `{/}`, Perl's `dirname` for `{//}`).
//!
//! Everything here is bytes: command words, inputs and the command line need not be UTF-8
//! (file names on Unix are bytes), and no conversion ever replaces a byte.

use crate::quote::{is_plain_word, quote};

/// What a replacement string takes from its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// `{}`.
    Whole,
    /// `{.}`.
    NoExt,
    /// `{/}`.
    Base,
    /// `{//}`.
    Dir,
    /// `{/.}`.
    BaseNoExt,
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    /// Text copied as is.
    Lit(Vec<u8>),
    /// An input, transformed; `source` is 0-based, `None` means every source.
    Input { source: Option<usize>, op: Op },
    /// `{#}`.
    Seq,
    /// `{%}`.
    Slot,
}

/// A parsed command template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    /// The pieces of the joined command line.
    parts: Vec<Part>,
    /// When the command can be run without a shell: argv templates, one per word.
    direct: Option<Vec<Vec<Part>>>,
    /// Inputs substituted unquoted (the command is empty: each input is a command itself).
    raw_inputs: bool,
}

/// How a job's command is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Launch {
    /// `/bin/sh -c LINE`.
    Shell,
    /// Exec'd directly, argv given: the command has no shell syntax at all, so this is exactly
    /// what `sh -c` would have run, minus a shell process per job.
    Direct(Vec<Vec<u8>>),
}

/// Shell reserved words and builtins: a command starting with one needs the shell.
const SHELL_WORDS: &[&str] = &[
    "!", "{", "}", "case", "do", "done", "elif", "else", "esac", "fi", "for", "if", "in", "then",
    "until", "while", ".", ":", "alias", "bg", "break", "cd", "command", "continue", "eval",
    "exec", "exit", "export", "fc", "fg", "getopts", "hash", "jobs", "local", "read", "readonly",
    "return", "set", "shift", "source", "times", "trap", "type", "ulimit", "umask", "unalias",
    "unset", "wait",
];

impl Template {
    /// Parse the command words. `quote_words` (`-q`) quotes each command word as well, so the
    /// command runs with exactly these argv words. `sources` is the number of input sources
    /// (`{N}` beyond it is an error, as in GNU parallel).
    pub(crate) fn parse(
        words: &[Vec<u8>],
        quote_words: bool,
        sources: usize,
    ) -> Result<Template, String> {
        if words.is_empty() {
            return Ok(Template {
                parts: vec![Part::Input {
                    source: None,
                    op: Op::Whole,
                }],
                direct: None,
                raw_inputs: true,
            });
        }
        let mut word_parts = Vec::with_capacity(words.len());
        for w in words {
            let mut parts = parse_word(w, sources)?;
            if quote_words {
                for p in &mut parts {
                    if let Part::Lit(s) = p {
                        *s = quote(s).into_owned();
                    }
                }
            }
            word_parts.push(parts);
        }
        let any_repl = word_parts
            .iter()
            .flatten()
            .any(|p| !matches!(p, Part::Lit(_)));
        if !any_repl {
            word_parts.push(vec![Part::Input {
                source: None,
                op: Op::Whole,
            }]);
        }
        let direct = direct_plan(words, &word_parts, quote_words, sources);
        let mut parts = Vec::new();
        for (i, wp) in word_parts.into_iter().enumerate() {
            if i > 0 {
                push_lit(&mut parts, b" ");
            }
            for p in wp {
                match p {
                    Part::Lit(s) => push_lit(&mut parts, &s),
                    other => parts.push(other),
                }
            }
        }
        Ok(Template {
            parts,
            direct,
            raw_inputs: false,
        })
    }

    /// The shell command line for one job.
    pub(crate) fn render(&self, args: &[Vec<u8>], seq: u64, slot: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for p in &self.parts {
            render_part(&mut out, p, args, seq, slot, !self.raw_inputs);
        }
        out
    }

    /// How to start one job; `Launch::Shell` means run [`Template::render`]'s line with `sh -c`.
    pub(crate) fn launch(&self, args: &[Vec<u8>], seq: u64, slot: usize) -> Launch {
        let Some(words) = &self.direct else {
            return Launch::Shell;
        };
        let mut argv = Vec::with_capacity(words.len() + args.len());
        for w in words {
            if let [Part::Input { source: None, op }] = w.as_slice() {
                argv.extend(args.iter().map(|a| apply(*op, a).to_owned()));
                continue;
            }
            let mut s = Vec::new();
            for p in w {
                render_part(&mut s, p, args, seq, slot, false);
            }
            argv.push(s);
        }
        Launch::Direct(argv)
    }
}

fn push_lit(parts: &mut Vec<Part>, s: &[u8]) {
    if let Some(Part::Lit(last)) = parts.last_mut() {
        last.extend_from_slice(s);
    } else {
        parts.push(Part::Lit(s.to_owned()));
    }
}

/// Decide whether the command can skip the shell: every literal is a plain word (no quotes,
/// globs, variables, redirections, separators), the command name is a plain word and not a
/// shell keyword or builtin, and multi-input `{}` stands alone as a word.
fn direct_plan(
    words: &[Vec<u8>],
    parts: &[Vec<Part>],
    quote_words: bool,
    sources: usize,
) -> Option<Vec<Vec<Part>>> {
    let first = words.first()?;
    if !is_plain_word(first, true) || SHELL_WORDS.iter().any(|w| w.as_bytes() == first) {
        return None;
    }
    for (i, w) in parts.iter().enumerate() {
        for p in w {
            match p {
                Part::Lit(s) if !quote_words && !is_plain_word(s, i == 0) => return None,
                Part::Input { source: None, .. } if sources > 1 && w.len() > 1 => return None,
                _ => {}
            }
        }
    }
    if quote_words {
        // The literal words were quoted in `parts`; direct argv wants them verbatim.
        let mut raw = Vec::with_capacity(words.len());
        for w in words {
            raw.push(parse_word(w, sources).ok()?);
        }
        if raw.len() < parts.len() {
            raw.push(parts.last()?.clone());
        }
        return Some(raw);
    }
    Some(parts.to_vec())
}

fn render_part(out: &mut Vec<u8>, p: &Part, args: &[Vec<u8>], seq: u64, slot: usize, quoted: bool) {
    use std::io::Write;
    match p {
        Part::Lit(s) => out.extend_from_slice(s),
        Part::Seq => {
            let _ = write!(out, "{seq}");
        }
        Part::Slot => {
            let _ = write!(out, "{slot}");
        }
        Part::Input {
            source: Some(i),
            op,
        } => {
            push_value(
                out,
                apply(*op, args.get(*i).map_or(&[], Vec::as_slice)),
                quoted,
            );
        }
        Part::Input { source: None, op } => {
            for (k, a) in args.iter().enumerate() {
                if k > 0 {
                    out.push(b' ');
                }
                push_value(out, apply(*op, a), quoted);
            }
        }
    }
}

fn push_value(out: &mut Vec<u8>, v: &[u8], quoted: bool) {
    if quoted {
        out.extend_from_slice(&quote(v));
    } else {
        out.extend_from_slice(v);
    }
}

/// Parse one command word into literal text and replacement strings.
fn parse_word(w: &[u8], sources: usize) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = w;
    while let Some(open) = rest.iter().position(|&b| b == b'{') {
        let Some(close) = rest[open..]
            .iter()
            .position(|&b| b == b'}')
            .map(|c| open + c)
        else {
            break;
        };
        let inner = &rest[open + 1..close];
        match parse_repl(inner, sources)? {
            Some(part) => {
                push_lit(&mut parts, &rest[..open]);
                parts.push(part);
                rest = &rest[close + 1..];
            }
            None => {
                push_lit(&mut parts, &rest[..open + 1]);
                rest = &rest[open + 1..];
            }
        }
    }
    push_lit(&mut parts, rest);
    parts.retain(|p| !matches!(p, Part::Lit(s) if s.is_empty()));
    Ok(parts)
}

/// The replacement string inside `{...}`, or `None` if the braces are ordinary text.
fn parse_repl(inner: &[u8], sources: usize) -> Result<Option<Part>, String> {
    let op_of = |s: &[u8]| match s {
        b"" => Some(Op::Whole),
        b"." => Some(Op::NoExt),
        b"/" => Some(Op::Base),
        b"//" => Some(Op::Dir),
        b"/." => Some(Op::BaseNoExt),
        _ => None,
    };
    match inner {
        b"#" => return Ok(Some(Part::Seq)),
        b"%" => return Ok(Some(Part::Slot)),
        _ => {}
    }
    if let Some(op) = op_of(inner) {
        return Ok(Some(Part::Input { source: None, op }));
    }
    let digits = inner.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return Ok(None);
    }
    let Some(op) = op_of(&inner[digits..]) else {
        return Ok(None);
    };
    // ASCII digits and one of the ops above: UTF-8.
    let inner = String::from_utf8_lossy(inner);
    let n: usize = inner[..digits]
        .parse()
        .map_err(|_| format!("replacement string {{{inner}}} is out of range"))?;
    if n == 0 || n > sources {
        return Err(format!(
            "replacement string {{{inner}}} names input source {n}, but there {} {sources}",
            if sources == 1 { "is" } else { "are" }
        ));
    }
    Ok(Some(Part::Input {
        source: Some(n - 1),
        op,
    }))
}

/// Apply a replacement operation to one input (GNU parallel's definitions).
pub(crate) fn apply(op: Op, s: &[u8]) -> &[u8] {
    match op {
        Op::Whole => s,
        Op::NoExt => strip_ext(s),
        Op::Base => base(s),
        Op::BaseNoExt => strip_ext(base(s)),
        Op::Dir => dirname(s),
    }
}

/// `s:.*/::`
fn base(s: &[u8]) -> &[u8] {
    s.iter()
        .rposition(|&b| b == b'/')
        .map_or(s, |i| &s[i + 1..])
}

/// `s:\.[^/.]*$::`
fn strip_ext(s: &[u8]) -> &[u8] {
    match s.iter().rposition(|&b| b == b'.' || b == b'/') {
        Some(i) if s[i] == b'.' => &s[..i],
        _ => s,
    }
}

/// `s` without its trailing slashes.
fn trim_slashes(s: &[u8]) -> &[u8] {
    let end = s.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
    &s[..end]
}

/// Perl's `File::Basename::dirname` on Unix.
fn dirname(s: &[u8]) -> &[u8] {
    let trimmed = trim_slashes(s);
    if trimmed.is_empty() {
        return if s.is_empty() { b"." } else { b"/" };
    }
    match trimmed.iter().rposition(|&b| b == b'/') {
        None => b".",
        Some(i) => {
            let d = trim_slashes(&trimmed[..i]);
            if d.is_empty() {
                b"/"
            } else {
                d
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(words: &[&str], sources: usize) -> Template {
        Template::parse(&args(words), false, sources).unwrap()
    }

    fn args(a: &[&str]) -> Vec<Vec<u8>> {
        a.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    impl Template {
        /// [`Template::render`] as text (the tests' inputs are UTF-8).
        fn render_s(&self, args: &[Vec<u8>], seq: u64, slot: usize) -> String {
            String::from_utf8(self.render(args, seq, slot)).unwrap()
        }
    }

    #[test]
    fn path_operations_match_gnu_parallel() {
        // Expected values produced by GNU parallel 20221122 for the same inputs.
        let cases = [
            ("a/b.c", "a/b", "b.c", "a", "b"),
            ("/x.tar.gz", "/x.tar", "x.tar.gz", "/", "x.tar"),
            (".bashrc", "", ".bashrc", ".", ""),
            ("foo/", "foo/", "", ".", ""),
            ("a b", "a b", "a b", ".", "a b"),
            ("/", "/", "", "/", ""),
            ("a.d/b", "a.d/b", "b", "a.d", "b"),
            ("a//b//", "a//b//", "", "a", ""),
        ];
        for (input, noext, b, d, bne) in cases {
            let op = |op| std::str::from_utf8(apply(op, input.as_bytes())).unwrap();
            assert_eq!(op(Op::NoExt), noext, "{{.}} of {input}");
            assert_eq!(op(Op::Base), b, "{{/}} of {input}");
            assert_eq!(op(Op::Dir), d, "{{//}} of {input}");
            assert_eq!(op(Op::BaseNoExt), bne, "{{/.}} of {input}");
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_pass_through_unchanged() {
        let input: &[u8] = b"d\xe9/f\xff.tar.gz";
        assert_eq!(apply(Op::NoExt, input), b"d\xe9/f\xff.tar");
        assert_eq!(apply(Op::Base, input), b"f\xff.tar.gz");
        assert_eq!(apply(Op::Dir, input), b"d\xe9");
        assert_eq!(apply(Op::BaseNoExt, input), b"f\xff.tar");
        let words = vec![b"cp".to_vec(), b"{}".to_vec(), b"\xfe{/.}".to_vec()];
        let tpl = Template::parse(&words, false, 1).unwrap();
        let args = vec![input.to_vec()];
        assert_eq!(
            tpl.render(&args, 1, 1),
            b"cp 'd\xe9/f\xff.tar.gz' \xfe'f\xff.tar'"
        );
        assert_eq!(tpl.launch(&args, 1, 1), Launch::Shell);
        let words = vec![b"cp".to_vec(), b"{}".to_vec()];
        assert_eq!(
            Template::parse(&words, false, 1)
                .unwrap()
                .launch(&args, 1, 1),
            Launch::Direct(vec![b"cp".to_vec(), input.to_vec()])
        );
    }

    #[test]
    fn input_is_appended_when_there_is_no_replacement_string() {
        assert_eq!(
            t(&["echo", "x"], 1).render_s(&args(&["a b"]), 1, 1),
            "echo x 'a b'"
        );
        assert_eq!(
            t(&["echo"], 2).render_s(&args(&["a", "b"]), 1, 1),
            "echo a b"
        );
    }

    #[test]
    fn numbered_sources_and_counters() {
        let tpl = t(&["cp", "{1}", "{2/}.{#}.{%}", "{1.}"], 2);
        assert_eq!(
            tpl.render_s(&args(&["x.c", "d/y z"]), 7, 2),
            "cp x.c 'y z'.7.2 x"
        );
    }

    #[test]
    fn unknown_braces_are_literal() {
        assert_eq!(
            t(&["echo", "{a}", "{}", "{"], 1).render_s(&args(&["v"]), 1, 1),
            "echo {a} v {"
        );
        assert_eq!(
            t(&["awk", "{print}"], 1).render_s(&args(&["f"]), 1, 1),
            "awk {print} f"
        );
    }

    #[test]
    fn out_of_range_source_is_an_error() {
        assert!(Template::parse(&args(&["echo", "{3}"]), false, 2).is_err());
    }

    #[test]
    fn plain_commands_skip_the_shell_and_others_do_not() {
        let plain = t(&["sha256sum", "--tag", "{}"], 1);
        assert_eq!(
            plain.launch(&args(&["a b;c"]), 1, 1),
            Launch::Direct(args(&["sha256sum", "--tag", "a b;c"]))
        );
        assert_eq!(
            t(&["true"], 1).launch(&args(&["x"]), 1, 1),
            Launch::Direct(args(&["true", "x"]))
        );
        assert_eq!(
            t(&["echo", "{}", "|", "wc"], 1).launch(&args(&["x"]), 1, 1),
            Launch::Shell
        );
        assert_eq!(
            t(&["cd", "{}"], 1).launch(&args(&["x"]), 1, 1),
            Launch::Shell
        );
        assert_eq!(
            t(&["X=1", "env"], 1).launch(&args(&["x"]), 1, 1),
            Launch::Shell
        );
        assert_eq!(
            t(&["echo $HOME"], 1).launch(&args(&["x"]), 1, 1),
            Launch::Shell
        );
        assert_eq!(
            t(&["echo", "x{}"], 2).launch(&args(&["a", "b"]), 1, 1),
            Launch::Shell
        );
    }

    #[test]
    fn quote_mode_quotes_command_words_too() {
        let words = args(&["printf", "%s;", "{}"]);
        let tpl = Template::parse(&words, true, 1).unwrap();
        assert_eq!(tpl.render_s(&args(&["a"]), 1, 1), "printf '%s;' a");
        assert_eq!(
            tpl.launch(&args(&["a"]), 1, 1),
            Launch::Direct(args(&["printf", "%s;", "a"]))
        );
    }

    #[test]
    fn empty_command_runs_the_input_itself() {
        let tpl = Template::parse(&[], false, 1).unwrap();
        assert_eq!(
            tpl.render_s(&args(&["echo a; echo b"]), 1, 1),
            "echo a; echo b"
        );
        assert_eq!(tpl.launch(&args(&["echo a"]), 1, 1), Launch::Shell);
    }
}
