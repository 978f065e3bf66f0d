//! The snapshot data openraft moves around ([`SnapshotFile`], the `SnapshotData` of
//! [`super::TypeConfig`]): an open snapshot file, read in chunks when sent to a lagging member
//! and written chunk by chunk when received from the leader, so a snapshot never has to fit
//! in memory. [`PendingFile`] removes a file that never became the current snapshot.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::fs::File;
use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};

/// A path that is removed when this guard is dropped, unless [`PendingFile::keep`] was called:
/// a snapshot file being written or received, or written but not yet the current snapshot.
/// Whatever a crash leaves behind instead is removed when the store next opens.
#[derive(Debug)]
pub(crate) struct PendingFile {
    path: PathBuf,
    keep: bool,
}

impl PendingFile {
    pub(crate) fn new(path: PathBuf) -> Self {
        PendingFile { path, keep: false }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The file stays: it is now the current snapshot (or was never ours to remove).
    pub(crate) fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.keep
            && let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(
                path = %self.path.display(),
                error = %e,
                "removing an unused snapshot file failed"
            );
        }
    }
}

/// An open snapshot file: either the current snapshot (read-only use: sending it to a
/// member) or a temporary file receiving one from the leader, removed if it is dropped
/// before it was installed (the leader gave up, or a newer snapshot replaced it).
#[derive(Debug)]
pub struct SnapshotFile {
    file: File,
    receiving: Option<PendingFile>,
}

impl SnapshotFile {
    /// A published snapshot, opened for reading.
    pub(crate) fn published(file: std::fs::File) -> Self {
        SnapshotFile {
            file: File::from_std(file),
            receiving: None,
        }
    }

    /// A new temporary file that a snapshot from the leader is written into.
    pub(crate) fn receiving(file: File, pending: PendingFile) -> Self {
        SnapshotFile {
            file,
            receiving: Some(pending),
        }
    }

    /// The received file (every write finished) and the guard that removes it unless it is
    /// installed. `None` for a file that was not received (a published snapshot).
    pub(crate) async fn into_received(self) -> Option<(std::fs::File, PendingFile)> {
        let pending = self.receiving?;
        Some((self.file.into_std().await, pending))
    }
}

impl AsyncRead for SnapshotFile {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().file).poll_read(cx, buf)
    }
}

impl AsyncWrite for SnapshotFile {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().file).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().file).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().file).poll_shutdown(cx)
    }
}

impl AsyncSeek for SnapshotFile {
    fn start_seek(self: Pin<&mut Self>, position: io::SeekFrom) -> io::Result<()> {
        Pin::new(&mut self.get_mut().file).start_seek(position)
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Pin::new(&mut self.get_mut().file).poll_complete(cx)
    }
}
