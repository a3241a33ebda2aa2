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
//! `{name}` (and `{name.}`...) with `--header :` is the input source or column so named. With
//! `-X` or `-N` (see [`Shape::context`]) the word around `{}` (the text up to the nearest
//! blanks) is repeated for each of the job's inputs: `pre{}post` gives `preapost prebpost`.
//! GNU parallel's `{= perl =}` is refused with a message naming the alternatives.
//!
//! With no replacement string at all, ` {}` is appended. Substituted inputs are shell-quoted
//! (see [`crate::quote`]); `{#}` and `{%}` are numbers and need none. The definitions follow GNU
//! parallel's (`s:\.[^/.]*$::` for `{.}`, `s:.*/::` for `{/}`, Perl's `dirname` for `{//}`).
//!
//! Everything here is bytes: command words, inputs and the command line need not be UTF-8
//! (file names on Unix are bytes), and no conversion ever replaces a byte.

use crate::quote::{is_plain_word, quote};
use crate::values::ValueList;

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
    /// `-X` / `-N`: `parts` split into words (blanks are words of their own); a word holding
    /// `{}` is repeated once per input.
    groups: Option<Vec<Vec<Part>>>,
    /// The command's only replacement string, when it is one `{}` (or `{.}`...) standing alone
    /// as a word (`echo {}`, the usual `-X` command): a value then adds a space and itself,
    /// quoted, to the line, which [`Template::cost_of_last`] computes without walking the
    /// template (it is asked once per value packed).
    lone: Option<Op>,
}

/// How the command words are read, besides the words themselves.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Shape<'a> {
    /// `-q`: quote each command word as well, so the command runs with exactly these argv
    /// words.
    pub(crate) quote_words: bool,
    /// The highest `{N}` allowed (the number of input sources, an error beyond it, as in GNU
    /// parallel), or `None` when any N is (columns, `-N`, `-m`, `-X`: an N beyond the job's
    /// values is empty).
    pub(crate) positions: Option<usize>,
    /// `--header :`: the name of each position (`{name}` is `{N}` for the Nth name).
    pub(crate) names: &'a [Vec<u8>],
    /// `-X`, `-N`: the word around `{}` is repeated per input.
    pub(crate) context: bool,
    /// A job may have several values for `{}` (several sources, columns, `-N`, `-m`, `-X`).
    pub(crate) multi: bool,
}

/// How a job's command is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Launch {
    /// `/bin/sh -c LINE`.
    Shell,
    /// Exec'd directly, argv given: the command has no shell syntax at all, so this is exactly
    /// what `sh -c` would have run, minus a shell process per job.
    Direct(Argv),
}

/// argv words in one buffer (one allocation, not one a word: `-X` jobs have tens of thousands),
/// each followed by a NUL, as `execve` takes them (the job's spawn points into this buffer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Argv {
    bytes: Vec<u8>,
    /// Where each word ends in `bytes` (the index of its NUL).
    ends: Vec<usize>,
}

impl Argv {
    /// The words, copied into one buffer.
    pub(crate) fn from_words<'a>(words: impl IntoIterator<Item = &'a [u8]>) -> Argv {
        let mut argv = Argv::default();
        for w in words {
            argv.buf().extend_from_slice(w);
            argv.end_word();
        }
        argv
    }

    /// Close the word written to [`Argv::buf`] since the last one.
    fn end_word(&mut self) {
        self.ends.push(self.bytes.len());
        self.bytes.push(0);
    }

    /// Where the next word is written.
    fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    /// The words, in order (without their NULs).
    pub(crate) fn words(&self) -> impl Iterator<Item = &[u8]> {
        self.starts()
            .zip(&self.ends)
            .map(|(a, &b)| &self.bytes[a..b])
    }

    /// Where each word starts in [`Argv::terminated`].
    pub(crate) fn starts(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::once(0)
            .chain(self.ends.iter().map(|e| e + 1))
            .take(self.ends.len())
    }

    /// The words, each followed by its NUL (a word may hold a NUL of its own: see
    /// [`Argv::has_inner_nul`]).
    pub(crate) fn terminated(&self) -> &[u8] {
        &self.bytes
    }

    /// True if a word holds a NUL byte, which `execve` cannot pass.
    pub(crate) fn has_inner_nul(&self) -> bool {
        memchr::memchr_iter(0, &self.bytes).count() != self.ends.len()
    }

    /// The program: the first word.
    pub(crate) fn program(&self) -> &[u8] {
        self.words().next().unwrap_or_default()
    }
}

impl From<Vec<Vec<u8>>> for Argv {
    fn from(words: Vec<Vec<u8>>) -> Argv {
        Argv::from_words(words.iter().map(Vec::as_slice))
    }
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
    /// Parse the command words, read as `shape` says.
    ///
    /// # Errors
    ///
    /// `{N}` beyond [`Shape::positions`], or GNU parallel's `{= perl =}`: a message.
    pub(crate) fn parse(words: &[Vec<u8>], shape: Shape<'_>) -> Result<Template, String> {
        refuse_perl(words)?;
        let quote_words = shape.quote_words;
        if words.is_empty() {
            return Ok(Template {
                parts: vec![Part::Input {
                    source: None,
                    op: Op::Whole,
                }],
                direct: None,
                raw_inputs: true,
                groups: None,
                lone: Some(Op::Whole),
            });
        }
        let mut word_parts = Vec::with_capacity(words.len());
        for w in words {
            let mut parts = parse_word(w, &shape)?;
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
        let direct = direct_plan(words, &word_parts, &shape);
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
        let groups = shape.context.then(|| split_words(&parts));
        let lone = lone_input(&parts, groups.as_deref());
        Ok(Template {
            parts,
            direct,
            raw_inputs: false,
            groups,
            lone,
        })
    }

    /// The shell command line for one job.
    pub(crate) fn render(
        &self,
        args: &(impl ValueList + ?Sized),
        seq: u64,
        slot: usize,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len_bound(args).min(1 << 20));
        let job = Job {
            args,
            seq,
            slot,
            quoted: !self.raw_inputs,
        };
        match &self.groups {
            None => {
                for p in &self.parts {
                    job.part(&mut out, p, None);
                }
            }
            Some(groups) => {
                for g in groups {
                    job.word(&mut out, g);
                }
            }
        }
        out
    }

    /// Bytes the command line of `args` takes at most (quoting every value, `{#}` and `{%}`
    /// at their widest), without rendering it: when this is under a limit, the line is too.
    pub(crate) fn len_bound(&self, args: &(impl ValueList + ?Sized)) -> usize {
        let all: usize = args.each().map(|a| quoted_bound(a) + 1).sum();
        self.parts
            .iter()
            .map(|p| match p {
                Part::Lit(s) => s.len(),
                Part::Seq => 20,
                Part::Slot => 4,
                Part::Input { source: None, .. } => all,
                Part::Input {
                    source: Some(i), ..
                } => args.get_value(*i).map_or(0, quoted_bound),
            })
            .sum::<usize>()
            .saturating_mul(if self.groups.is_some() {
                args.count().max(1)
            } else {
                1
            })
    }

    /// What appending `arg` to the job's values (`args`, which end with it) adds to its
    /// command line, in bytes; exact unless a repeated word (`-X`) also holds a `{N}`.
    pub(crate) fn cost_of_last(&self, args: &(impl ValueList + ?Sized)) -> usize {
        let Some(k) = args.count().checked_sub(1) else {
            return 0;
        };
        if let Some(op) = self.lone {
            return usize::from(k > 0) + quoted_len(apply(op, args.value(k)), !self.raw_inputs);
        }
        let job = Job {
            args,
            seq: 0,
            slot: 0,
            quoted: !self.raw_inputs,
        };
        // `{}` (a space before all but the first value) and `{N}` for this value.
        let flat = |parts: &[Part]| -> usize {
            parts
                .iter()
                .map(|p| match p {
                    Part::Input { source: None, op } => {
                        usize::from(k > 0) + quoted_len(apply(*op, args.value(k)), job.quoted)
                    }
                    Part::Input {
                        source: Some(i),
                        op,
                    } if *i == k => quoted_len(apply(*op, args.value(k)), job.quoted),
                    _ => 0,
                })
                .sum()
        };
        let Some(groups) = &self.groups else {
            return flat(&self.parts);
        };
        let mut scratch = Vec::new();
        let mut cost = 0;
        for g in groups {
            if let [Part::Input { source: None, .. }] = g.as_slice() {
                // `{}` alone: as without -X.
                cost += flat(g);
            } else if repeats(g) {
                // The word once more, with a space before it.
                scratch.clear();
                for p in g {
                    job.part(&mut scratch, p, Some(k));
                }
                cost += usize::from(k > 0) + scratch.len();
            } else {
                cost += flat(g);
            }
        }
        cost
    }

    /// True when [`Template::cost_of_last`] is exact: no repeated word holds a `{N}`.
    pub(crate) fn cost_is_exact(&self) -> bool {
        self.groups.as_ref().is_none_or(|gs| {
            !gs.iter().any(|g| {
                repeats(g)
                    && g.iter().any(|p| {
                        matches!(
                            p,
                            Part::Input {
                                source: Some(_),
                                ..
                            }
                        )
                    })
            })
        })
    }

    /// How to start one job; `Launch::Shell` means run [`Template::render`]'s line with `sh -c`.
    pub(crate) fn launch(&self, args: &(impl ValueList + ?Sized), seq: u64, slot: usize) -> Launch {
        let Some(words) = &self.direct else {
            return Launch::Shell;
        };
        let job = Job {
            args,
            seq,
            slot,
            quoted: false,
        };
        let mut argv = Argv {
            bytes: Vec::with_capacity(self.len_bound(args).min(1 << 20)),
            ends: Vec::with_capacity(words.len() + args.count()),
        };
        for w in words {
            if let [Part::Input { source: None, op }] = w.as_slice() {
                for a in args.each() {
                    argv.buf().extend_from_slice(apply(*op, a));
                    argv.end_word();
                }
                continue;
            }
            if self.groups.is_some() && repeats(w) {
                // `-X`: the word once per value, each its own argv word.
                for k in 0..args.count() {
                    for p in w {
                        job.part(argv.buf(), p, Some(k));
                    }
                    argv.end_word();
                }
                continue;
            }
            let missing =
                |p: &Part| matches!(p, Part::Input { source: Some(i), .. } if *i >= args.count());
            if w.iter().all(missing) {
                // Only positions beyond the values: no word at all, as `sh -c` would see it.
                continue;
            }
            for p in w {
                job.part(argv.buf(), p, None);
            }
            argv.end_word();
        }
        Launch::Direct(argv)
    }
}

/// The op of the template's only replacement string, if it is a `{}` that stands alone as a
/// word of its own (always so without `-X`: there `{}` is all the values, space-separated,
/// wherever it stands).
fn lone_input(parts: &[Part], groups: Option<&[Vec<Part>]>) -> Option<Op> {
    let mut repls = parts.iter().filter(|p| !matches!(p, Part::Lit(_)));
    let (Some(&Part::Input { source: None, op }), None) = (repls.next(), repls.next()) else {
        return None;
    };
    let alone = groups.is_none_or(|gs| {
        gs.iter()
            .any(|g| matches!(g.as_slice(), [Part::Input { source: None, .. }]))
    });
    alone.then_some(op)
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
    shape: &Shape<'_>,
) -> Option<Vec<Vec<Part>>> {
    let quote_words = shape.quote_words;
    let first = words.first()?;
    if !is_plain_word(first, true) || SHELL_WORDS.iter().any(|w| w.as_bytes() == first) {
        return None;
    }
    for (i, w) in parts.iter().enumerate() {
        for p in w {
            match p {
                Part::Lit(s) if !quote_words && !is_plain_word(s, i == 0) => return None,
                // Several values: `x{}` is `xa b`, two argv words, unless `-X` repeats the word.
                Part::Input { source: None, .. }
                    if shape.multi && !shape.context && w.len() > 1 =>
                {
                    return None
                }
                _ => {}
            }
        }
    }
    if quote_words {
        // The literal words were quoted in `parts`; direct argv wants them verbatim.
        let mut raw = Vec::with_capacity(words.len());
        for w in words {
            raw.push(parse_word(w, shape).ok()?);
        }
        if raw.len() < parts.len() {
            raw.push(parts.last()?.clone());
        }
        return Some(raw);
    }
    Some(parts.to_vec())
}

/// One job's values, for rendering its parts.
struct Job<'a, V: ValueList + ?Sized> {
    args: &'a V,
    seq: u64,
    slot: usize,
    quoted: bool,
}

impl<V: ValueList + ?Sized> Job<'_, V> {
    /// Render `p`; `each`: only that value for `{}` (a word repeated per value, `-X`).
    fn part(&self, out: &mut Vec<u8>, p: &Part, each: Option<usize>) {
        use std::io::Write;
        match p {
            Part::Lit(s) => out.extend_from_slice(s),
            Part::Seq => {
                let _ = write!(out, "{}", self.seq);
            }
            Part::Slot => {
                let _ = write!(out, "{}", self.slot);
            }
            Part::Input {
                source: Some(i),
                op,
            } => {
                // A position beyond the job's values (a short last job, a missing column) is
                // nothing at all, not an empty word (GNU parallel's rule).
                if let Some(v) = self.args.get_value(*i) {
                    push_value(out, apply(*op, v), self.quoted);
                }
            }
            Part::Input { source: None, op } => {
                if let Some(k) = each {
                    push_value(out, apply(*op, self.args.value(k)), self.quoted);
                    return;
                }
                for (k, a) in self.args.each().enumerate() {
                    if k > 0 {
                        out.push(b' ');
                    }
                    push_value(out, apply(*op, a), self.quoted);
                }
            }
        }
    }

    /// Render one word of a `-X` template: once per value if it holds `{}`, space-separated.
    fn word(&self, out: &mut Vec<u8>, w: &[Part]) {
        if !repeats(w) {
            for p in w {
                self.part(out, p, None);
            }
            return;
        }
        for k in 0..self.args.count() {
            if k > 0 {
                out.push(b' ');
            }
            for p in w {
                self.part(out, p, Some(k));
            }
        }
    }
}

/// True if the word holds `{}` (or `{.}`...): `-X` repeats it per value.
fn repeats(w: &[Part]) -> bool {
    w.iter()
        .any(|p| matches!(p, Part::Input { source: None, .. }))
}

/// The parts split into words at blanks, the blanks being words of their own (`-X`).
fn split_words(parts: &[Part]) -> Vec<Vec<Part>> {
    let mut words: Vec<Vec<Part>> = Vec::new();
    let mut cur: Vec<Part> = Vec::new();
    for p in parts {
        let Part::Lit(s) = p else {
            cur.push(p.clone());
            continue;
        };
        let mut rest = &s[..];
        while !rest.is_empty() {
            let blank = rest[0].is_ascii_whitespace();
            let n = rest
                .iter()
                .position(|b| b.is_ascii_whitespace() != blank)
                .unwrap_or(rest.len());
            if blank {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
                words.push(vec![Part::Lit(rest[..n].to_vec())]);
            } else {
                cur.push(Part::Lit(rest[..n].to_vec()));
            }
            rest = &rest[n..];
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// The length of `v` as substituted.
fn quoted_len(v: &[u8], quoted: bool) -> usize {
    if quoted {
        crate::quote::quoted_len(v)
    } else {
        v.len()
    }
}

/// The most bytes `v` can take once quoted (every byte a `'`), without quoting it.
fn quoted_bound(v: &[u8]) -> usize {
    v.len() * 4 + 2
}

/// GNU parallel's `{= perl expression =}` is refused: threadkit embeds no Perl.
fn refuse_perl(words: &[Vec<u8>]) -> Result<(), String> {
    let line = words.join(&b' ');
    let Some(open) = line.windows(2).position(|w| w == b"{=") else {
        return Ok(());
    };
    let Some(close) = line[open..].windows(2).position(|w| w == b"=}") else {
        return Ok(());
    };
    let expr = String::from_utf8_lossy(&line[open..open + close + 2]);
    Err(format!(
        "`{expr}`: GNU parallel's {{= perl expression =}} replacement strings are not supported \
         (threadkit embeds no Perl). Use the built-in ones ({{.}} no extension, {{/}} basename, \
         {{//}} dirname, {{/.}} basename without extension, {{#}}, {{%}}, {{N}}, --colsep columns), \
         or transform the value in the shell: 'f={{}}; echo \"${{f%.gz}}\"' or \
         'echo {{}} | sed s/a/b/' (see docs/cli.md)"
    ))
}

fn push_value(out: &mut Vec<u8>, v: &[u8], quoted: bool) {
    if quoted {
        out.extend_from_slice(&quote(v));
    } else {
        out.extend_from_slice(v);
    }
}

/// Parse one command word into literal text and replacement strings.
fn parse_word(w: &[u8], shape: &Shape<'_>) -> Result<Vec<Part>, String> {
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
        match parse_repl(inner, shape)? {
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
fn parse_repl(inner: &[u8], shape: &Shape<'_>) -> Result<Option<Part>, String> {
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
    // `{name}`, `{name.}`...: a `--header` name (the longest that matches).
    let named = shape
        .names
        .iter()
        .enumerate()
        .filter(|(_, n)| !n.is_empty() && inner.starts_with(n))
        .filter_map(|(i, n)| op_of(&inner[n.len()..]).map(|op| (n.len(), i, op)))
        .max_by_key(|&(len, i, _)| (len, std::cmp::Reverse(i)));
    if let Some((_, i, op)) = named {
        return Ok(Some(Part::Input {
            source: Some(i),
            op,
        }));
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
    if n == 0 {
        return Err(format!(
            "replacement string {{{inner}}}: positions count from 1"
        ));
    }
    if let Some(sources) = shape.positions.filter(|&s| n > s) {
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
        Template::parse(&args(words), sh(false, sources)).unwrap()
    }

    /// The shape of a command with `sources` input sources (and `-q` when `quote_words`).
    fn sh(quote_words: bool, sources: usize) -> Shape<'static> {
        Shape {
            quote_words,
            positions: Some(sources),
            multi: sources > 1,
            ..Shape::default()
        }
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
    fn the_cost_of_a_value_is_what_it_adds_to_the_line() {
        // With and without the lone-`{}` shortcut, quoted values, `-X` and `-m`, no command.
        let commands: [&[&str]; 7] = [
            &["echo"],
            &["echo", "{}"],
            &["echo", "{.}", "end"],
            &["echo", "x{}y"],
            &["echo", "{}", "{}"],
            &["echo", "{/}", "{#}"],
            &[],
        ];
        let values = args(&["a", "b c", "it's", "d/e.f", "", "$x"]);
        for context in [true, false] {
            let shape = Shape {
                context,
                multi: true,
                ..Shape::default()
            };
            for words in commands {
                let t = Template::parse(&args(words), shape).unwrap();
                for k in 1..=values.len() {
                    let grown = t.render(&values[..k], 1, 1).len();
                    let before = t.render(&values[..k - 1], 1, 1).len();
                    assert_eq!(
                        t.cost_of_last(&values[..k]),
                        grown - before,
                        "{words:?} -X {context} value {k}"
                    );
                }
            }
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
        let tpl = Template::parse(&words, sh(false, 1)).unwrap();
        let args = vec![input.to_vec()];
        assert_eq!(
            tpl.render(&args, 1, 1),
            b"cp 'd\xe9/f\xff.tar.gz' \xfe'f\xff.tar'"
        );
        assert_eq!(tpl.launch(&args, 1, 1), Launch::Shell);
        let words = vec![b"cp".to_vec(), b"{}".to_vec()];
        assert_eq!(
            Template::parse(&words, sh(false, 1))
                .unwrap()
                .launch(&args, 1, 1),
            Launch::Direct(vec![b"cp".to_vec(), input.to_vec()].into())
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
        assert!(Template::parse(&args(&["echo", "{3}"]), sh(false, 2)).is_err());
    }

    #[test]
    fn plain_commands_skip_the_shell_and_others_do_not() {
        let plain = t(&["sha256sum", "--tag", "{}"], 1);
        assert_eq!(
            plain.launch(&args(&["a b;c"]), 1, 1),
            Launch::Direct(args(&["sha256sum", "--tag", "a b;c"]).into())
        );
        assert_eq!(
            t(&["true"], 1).launch(&args(&["x"]), 1, 1),
            Launch::Direct(args(&["true", "x"]).into())
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
        let tpl = Template::parse(&words, sh(true, 1)).unwrap();
        assert_eq!(tpl.render_s(&args(&["a"]), 1, 1), "printf '%s;' a");
        assert_eq!(
            tpl.launch(&args(&["a"]), 1, 1),
            Launch::Direct(args(&["printf", "%s;", "a"]).into())
        );
    }

    #[test]
    fn context_replace_repeats_the_word_around_the_input() {
        let shape = Shape {
            context: true,
            multi: true,
            ..Shape::default()
        };
        let tpl = Template::parse(&args(&["echo", "pre{}post", "{1}", "{#}"]), shape).unwrap();
        let values = args(&["a", "b c"]);
        assert_eq!(
            tpl.render_s(&values, 3, 1),
            "echo preapost pre'b c'post a 3"
        );
        assert_eq!(
            tpl.launch(&values, 3, 1),
            Launch::Direct(args(&["echo", "preapost", "preb cpost", "a", "3"]).into())
        );
        let m = Shape {
            multi: true,
            ..Shape::default()
        };
        let tpl = Template::parse(&args(&["echo", "pre{}post"]), m).unwrap();
        assert_eq!(tpl.render_s(&values, 1, 1), "echo prea 'b c'post");
        assert_eq!(tpl.launch(&values, 1, 1), Launch::Shell);
        // A position beyond the values is nothing, on both paths.
        let tpl = Template::parse(&args(&["echo", "{3}", "{1}"]), m).unwrap();
        assert_eq!(tpl.render_s(&values, 1, 1), "echo  a");
        assert_eq!(
            tpl.launch(&values, 1, 1),
            Launch::Direct(args(&["echo", "a"]).into())
        );
    }

    #[test]
    fn perl_expressions_are_refused_with_the_alternatives() {
        let err = Template::parse(&args(&["echo", "{= s/a/b/ =}"]), sh(false, 1)).unwrap_err();
        assert!(
            err.contains("{= s/a/b/ =}") && err.contains("{/.}"),
            "{err}"
        );
    }

    #[test]
    fn header_names_are_positions() {
        let names = args(&["name", "name2"]);
        let shape = Shape {
            names: &names,
            ..sh(false, 2)
        };
        let tpl =
            Template::parse(&args(&["echo", "{name2}", "{name.}", "{other}"]), shape).unwrap();
        assert_eq!(tpl.render_s(&args(&["a.x", "b"]), 1, 1), "echo b a {other}");
    }

    #[test]
    fn empty_command_runs_the_input_itself() {
        let tpl = Template::parse(&[], sh(false, 1)).unwrap();
        assert_eq!(
            tpl.render_s(&args(&["echo a; echo b"]), 1, 1),
            "echo a; echo b"
        );
        assert_eq!(tpl.launch(&args(&["echo a"]), 1, 1), Launch::Shell);
    }
}
