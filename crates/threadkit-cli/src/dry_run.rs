//! `--dry-run`: print each command line, in order, and run nothing (streamed: bounded memory).

use std::io::Write;

use crate::exit;
use crate::inputs::Inputs;
use crate::template::Template;

/// Print the command line of every input, one a line, on stdout; the exit code.
///
/// # Errors
///
/// An input that cannot be read; stdout that cannot be written (other than closed: `| head`
/// ends the run quietly).
pub(crate) fn print(inputs: Inputs, template: &Template) -> anyhow::Result<i32> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    for (seq, args) in inputs.enumerate() {
        let args = args?;
        let line = template.render(&args, seq as u64 + 1, 1);
        if let Err(e) = out.write_all(&line).and_then(|()| out.write_all(b"\n")) {
            return write_failed(&e);
        }
    }
    match out.flush() {
        Ok(()) => Ok(exit::SUCCESS),
        Err(e) => write_failed(&e),
    }
}

/// stdout closed (e.g. `| head`): stop quietly; any other write error is an error.
fn write_failed(e: &std::io::Error) -> anyhow::Result<i32> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return Ok(exit::SUCCESS);
    }
    anyhow::bail!("cannot write to stdout: {e}")
}
