//! Starting a child by re-executing this program (the [`Spawn`](super::StartMethod::Spawn)
//! start method, and how the fork server itself is started): `/proc/self/exe` with the child
//! markers, its control socket as standard input, and the first frame sent.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

use super::call::{Start, ENV_CHILD, STDIN_MARK, TEST_ENTRY};
use super::wire::{self, FrameSocket};

/// Starts a child by re-executing this executable and sends it `start` (with `fds` attached).
pub(crate) fn exec_child(start: &Start, fds: &[OwnedFd]) -> io::Result<(Child, FrameSocket)> {
    let (ours, theirs) = wire::stream_pair_fds(true)?;
    let mut cmd = Command::new("/proc/self/exe");
    if let Some(arg0) = std::env::args_os().next() {
        cmd.arg0(arg0);
    }
    cmd.args([TEST_ENTRY, "--nocapture", "--test-threads=1", "-q"]);
    cmd.env(ENV_CHILD, STDIN_MARK);
    // The child's standard input is its end of the control socket (dup2'ed by the spawn, so
    // without close-on-exec there and only there); `init` moves it away from descriptor 0.
    cmd.stdin(std::process::Stdio::from(theirs));
    let child = cmd.spawn()?;
    let sock = FrameSocket::new(ours);
    send_start(&sock, start, fds)?;
    Ok((child, sock))
}

pub(crate) fn send_start(sock: &FrameSocket, start: &Start, fds: &[OwnedFd]) -> io::Result<()> {
    let (bytes, _) = wire::encode(start).map_err(io::Error::other)?;
    if let Err(e) = sock.send(&bytes, fds, None) {
        // The child died at once; the caller finds out from its exit status.
        let _ = e;
    }
    Ok(())
}
