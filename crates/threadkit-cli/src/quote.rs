//! Shell quoting of substituted inputs.
//!
//! Every input substituted into a command line is quoted for `/bin/sh` so it stays one argument
//! and is never run as code: `a b; rm -rf x`, `$(reboot)`, quotes, backslashes and newlines all
//! arrive verbatim in the job's argv. Words made only of characters the shell treats literally
//! are left bare (so `--dry-run` output reads like the command you would type); everything else
//! is wrapped in single quotes, with each `'` written as `'\''` (close, escaped quote, reopen),
//! the one form every POSIX shell reads the same way.

use std::borrow::Cow;

/// [`is_plain`] for every byte (a lookup: `-X` asks it of every byte of every value).
const PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'/' | b',' | b':' | b'+' | b'@' | b'%' | b'^'
            );
        i += 1;
    }
    t
};

/// True for bytes the POSIX shell never interprets inside a word (not in any position).
fn is_plain(b: u8) -> bool {
    PLAIN[usize::from(b)]
}

/// `quote(s).len()`, without making the quoted copy.
pub(crate) fn quoted_len(s: &[u8]) -> usize {
    if !s.is_empty() && s.iter().all(|&b| is_plain(b)) {
        return s.len();
    }
    // `'...'`, each `'` inside written as the four bytes `'\''`.
    s.len() + 2 + 3 * s.iter().filter(|&&b| b == b'\'').count()
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

    #[test]
    fn quoted_len_is_the_quoted_length() {
        let all: Vec<u8> = (0..=255).collect();
        let cases: [&[u8]; 8] = [
            b"",
            b"a",
            b"a b",
            b"'",
            b"it's 'x'",
            b"\xe9",
            b"x-1.txt",
            &all,
        ];
        for s in cases {
            assert_eq!(quoted_len(s), quote(s).len(), "{}", s.escape_ascii());
        }
        for b in 0..=255u8 {
            assert_eq!(quoted_len(&[b]), quote(&[b]).len(), "byte {b}");
        }
    }

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
