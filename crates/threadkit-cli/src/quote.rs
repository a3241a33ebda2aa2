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

/// Quote `s` as one shell word. Bytes, not text: an input that is not UTF-8 is quoted like
/// any other (every byte but `'` stands for itself inside single quotes).
///
/// Plain words come back borrowed and unchanged; the empty string becomes `''`.
pub(crate) fn quote(s: &[u8]) -> Cow<'_, [u8]> {
    if !s.is_empty() && s.iter().copied().all(is_plain) {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len() + 2);
    out.push(b'\'');
    for &c in s {
        if c == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(c);
        }
    }
    out.push(b'\'');
    Cow::Owned(out)
}

/// True if `s` can be used as a literal word with no quoting at all, also as an assignment-free
/// command name (no `=`): used to decide whether a command needs a shell.
pub(crate) fn is_plain_word(s: &[u8], first: bool) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_plain(b) || (!first && b == b'='))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> String {
        String::from_utf8(quote(s.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn plain_words_stay_bare() {
        assert_eq!(q("src/a-b_c.rs"), "src/a-b_c.rs");
        assert_eq!(q("50%"), "50%");
    }

    #[test]
    fn hostile_words_are_single_quoted() {
        assert_eq!(q(""), "''");
        assert_eq!(q("a b; rm -rf x"), "'a b; rm -rf x'");
        assert_eq!(q("$(id)"), "'$(id)'");
        assert_eq!(q("it's"), "'it'\\''s'");
        assert_eq!(q("a\nb"), "'a\nb'");
        assert_eq!(q("~"), "'~'");
        assert_eq!(q("x=1"), "'x=1'");
        assert_eq!(&*quote(b"\xe9"), b"'\xe9'");
    }

    #[test]
    fn the_shell_reads_quoted_words_back_verbatim() {
        use std::os::unix::ffi::OsStrExt;
        let hostile: [&[u8]; 12] = [
            b"a b; rm -rf x",
            b"$(echo pwned)",
            b"`id`",
            b"it's \"q\"",
            b"a\nb",
            b"\\",
            b"*",
            b"",
            b"-n",
            b"'",
            b"\xe9'\xff",
            b"report\xef\xbf\xbd.txt",
        ];
        for h in hostile {
            let line = [&b"printf '%s' "[..], &quote(h)].concat();
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(std::ffi::OsStr::from_bytes(&line))
                .output()
                .unwrap();
            assert_eq!(out.stdout, h);
        }
    }
}
