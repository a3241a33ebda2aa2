//! Shell quoting of substituted inputs.
//!
//! Every input substituted into a command line is quoted for `/bin/sh` so it stays one argument
//! and is never run as code: `a b; rm -rf x`, `$(reboot)`, quotes, backslashes and newlines all
//! arrive verbatim in the job's argv. Words made only of characters the shell treats literally
//! are left bare (so `--dry-run` output reads like the command you would type); everything else
//! is wrapped in single quotes, with each `'` written as `'\''` (close, escaped quote, reopen),
//! the one form every POSIX shell reads the same way.

use std::borrow::Cow;

/// True for bytes the POSIX shell never interprets inside a word (not in any position).
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'/' | b',' | b':' | b'+' | b'@' | b'%' | b'^'
        )
}

/// Quote `s` as one shell word.
///
/// Plain words come back borrowed and unchanged; the empty string becomes `''`.
pub(crate) fn quote(s: &str) -> Cow<'_, str> {
    if !s.is_empty() && s.bytes().all(is_plain) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    Cow::Owned(out)
}

/// True if `s` can be used as a literal word with no quoting at all, also as an assignment-free
/// command name (no `=`): used to decide whether a command needs a shell.
pub(crate) fn is_plain_word(s: &str, first: bool) -> bool {
    !s.is_empty() && s.bytes().all(|b| is_plain(b) || (!first && b == b'='))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_bare() {
        assert_eq!(quote("src/a-b_c.rs"), "src/a-b_c.rs");
        assert_eq!(quote("50%"), "50%");
    }

    #[test]
    fn hostile_words_are_single_quoted() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b; rm -rf x"), "'a b; rm -rf x'");
        assert_eq!(quote("$(id)"), "'$(id)'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("a\nb"), "'a\nb'");
        assert_eq!(quote("~"), "'~'");
        assert_eq!(quote("x=1"), "'x=1'");
    }

    #[test]
    fn the_shell_reads_quoted_words_back_verbatim() {
        let hostile = [
            "a b; rm -rf x",
            "$(echo pwned)",
            "`id`",
            "it's \"q\"",
            "a\nb",
            "\\",
            "*",
            "",
            "-n",
            "'",
        ];
        for h in hostile {
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(format!("printf '%s' {}", quote(h)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), h);
        }
    }
}
