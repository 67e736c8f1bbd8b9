//! An output folder: text, JSON, JSON-lines and .npy files, with errors that
//! name the path.

use crate::Error;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// A run's output folder.
pub struct Output {
    dir: PathBuf,
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::input(format!("{}: {e}", path.display()))
}

impl Output {
    /// Creates the folder (and its parents).
    pub fn create(dir: &Path) -> Result<Output, Error> {
        std::fs::create_dir_all(dir)
            .map_err(|e| io_error(dir, format!("cannot create the output folder: {e}")))?;
        Ok(Output {
            dir: dir.to_path_buf(),
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of a file in the folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes a text file (atomically: a temporary file renamed into place,
    /// so a killed run never leaves a truncated file).
    pub fn text(&self, name: &str, text: &str) -> Result<(), Error> {
        let path = self.path(name);
        atomic(&path, |tmp| std::fs::write(tmp, text)).map_err(|e| io_error(&path, e))
    }

    /// Writes pretty-printed JSON.
    pub fn json(&self, name: &str, value: &serde_json::Value) -> Result<(), Error> {
        self.text(
            name,
            &(serde_json::to_string_pretty(value).expect("JSON serialises") + "\n"),
        )
    }

    /// Opens a JSON-lines file for appending one object per line.
    pub fn lines(&self, name: &str) -> Result<Lines, Error> {
        let path = self.path(name);
        let file = File::create(&path).map_err(|e| io_error(&path, e))?;
        Ok(Lines {
            path,
            file: BufWriter::new(file),
            bytes: 0,
        })
    }

    /// Reopens a JSON-lines file of a resumed run: keeps its first `bytes`
    /// bytes (the lines written up to the checkpoint) and appends after them.
    pub fn lines_from(&self, name: &str, bytes: u64) -> Result<Lines, Error> {
        let path = self.path(name);
        let file = open_keeping(&path)?;
        let len = file.metadata().map_err(|e| io_error(&path, e))?.len();
        if len < bytes {
            return Err(Error::input(format!(
                "{}: holds {len} bytes, fewer than the {bytes} its checkpoint recorded",
                path.display()
            )));
        }
        if bytes > 0 {
            use std::io::{Read, Seek};
            let mut last = [0u8];
            let mut f = &file;
            f.seek(std::io::SeekFrom::Start(bytes - 1))
                .and_then(|_| f.read_exact(&mut last))
                .map_err(|e| io_error(&path, e))?;
            if last[0] != b'\n' {
                return Err(Error::input(format!(
                    "{}: the checkpoint's metrics_bytes ({bytes}) is not at the end of a line: checkpoint.json does not belong to this file",
                    path.display()
                )));
            }
        }
        file.set_len(bytes).map_err(|e| io_error(&path, e))?;
        let mut file = BufWriter::new(file);
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(bytes))
            .map_err(|e| io_error(&path, e))?;
        Ok(Lines { path, file, bytes })
    }

    /// Writes a little-endian f64 .npy array of the given shape (atomically).
    pub fn npy(&self, name: &str, shape: &[u64], data: &[f64]) -> Result<(), Error> {
        let path = self.path(name);
        atomic(&path, |tmp| write_npy(tmp, shape, data)).map_err(|e| io_error(&path, e))
    }
}

/// Opens `path` for reading and writing, created if missing, its contents kept.
fn open_keeping(path: &Path) -> Result<File, Error> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| io_error(path, e))
}

/// Writes `path` by writing a temporary file beside it and renaming it into
/// place (a rename within a folder is atomic). The temporary file's name
/// carries the process id, so two processes never write the same one.
pub fn atomic(
    path: &Path,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.unwrap_or_default(),
        std::process::id()
    ));
    let written = write(&tmp).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// The lock file of a run folder.
pub const LOCK_FILE: &str = ".occam.lock";

/// The run folders this process holds locked, with how many holders each.
static HELD: std::sync::Mutex<Vec<(PathBuf, File, usize)>> = std::sync::Mutex::new(Vec::new());

/// A run folder locked for writing by this process: while one exists, any
/// other process that asks for the folder is refused (exit 2) with this
/// process's id. The lock is the operating system's advisory lock on
/// `.occam.lock` in the folder, so it goes with the process however that
/// ends (no stale locks after a crash or a kill; a run that ends removes the
/// file, a killed one may leave it, unlocked). Within one process the
/// lock is shared: the CLI holds it from `--force`'s clean-up to the last
/// plot, and the run it starts takes it again.
pub struct FolderLock {
    key: PathBuf,
}

impl FolderLock {
    /// Locks `dir` (created if missing), or says who holds it.
    pub fn acquire(dir: &Path) -> Result<FolderLock, Error> {
        std::fs::create_dir_all(dir)
            .map_err(|e| io_error(dir, format!("cannot create the output folder: {e}")))?;
        let key = dir
            .canonicalize()
            .map_err(|e| io_error(dir, format!("cannot resolve the output folder: {e}")))?;
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = held.iter_mut().find(|(k, _, _)| *k == key) {
            entry.2 += 1;
            return Ok(FolderLock { key });
        }
        let path = key.join(LOCK_FILE);
        let mut file = loop {
            let mut file = open_keeping(&path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    use std::io::Read;
                    let _ = file.read_to_string(&mut holder);
                    let holder = holder.trim();
                    return Err(Error::input(format!(
                        "{}: another occam process{} is writing a run in this folder; wait for it to end, or choose another folder",
                        dir.display(),
                        if holder.is_empty() {
                            String::new()
                        } else {
                            format!(" (pid {holder})")
                        }
                    )));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(io_error(&path, format!("cannot lock the run folder: {e}")));
                }
            }
            // The holder before us removes the file as it lets go: the lock
            // counts only if the file we locked is still the one at `path`.
            if same_file(&file, &path) {
                break file;
            }
        };
        use std::io::Seek;
        file.set_len(0)
            .and_then(|()| file.seek(std::io::SeekFrom::Start(0)).map(|_| ()))
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .and_then(|()| file.flush())
            .map_err(|e| io_error(&path, e))?;
        held.push((key.clone(), file, 1));
        Ok(FolderLock { key })
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = held.iter().position(|(k, _, _)| *k == self.key) {
            held[i].2 -= 1;
            if held[i].2 == 0 {
                // Remove the lock file, then close it (which releases the
                // lock): a finished run leaves no file behind.
                let _ = std::fs::remove_file(self.key.join(LOCK_FILE));
                held.swap_remove(i);
            }
        }
    }
}

/// Whether the open `file` is the file now at `path`.
fn same_file(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}

/// The extensions of the files a run writes into its folder.
const RUN_FILES: [&str; 5] = ["npy", "png", "json", "jsonl", "toml"];

/// Makes `dir` ready for a new run. A folder holding an earlier run (its
/// `config.toml`) is refused unless `force`, which removes that run's files
/// (`.npy`, `.png`, `.json`, `.jsonl`, `.toml` at the top of the folder) so
/// that old and new results never mix.
pub fn claim(dir: &Path, force: bool) -> Result<(), Error> {
    if !dir.join("config.toml").is_file() {
        return Ok(());
    }
    if !force {
        let unfinished = status(dir).is_none_or(|s| s != "complete");
        return Err(Error::input(format!(
            "--out {}: holds an earlier run (config.toml); choose another folder, or pass --force to replace that run{}",
            dir.display(),
            if unfinished {
                format!(
                    " (it did not finish: `occam run --resume {}` continues it)",
                    dir.display()
                )
            } else {
                String::new()
            }
        )));
    }
    let entries = std::fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| io_error(dir, e))?.path();
        let ours = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| RUN_FILES.contains(&e));
        if path.is_file() && ours {
            std::fs::remove_file(&path).map_err(|e| io_error(&path, e))?;
        }
    }
    Ok(())
}

/// Writes a little-endian f64 .npy array of the given shape.
pub fn write_npy(path: &Path, shape: &[u64], data: &[f64]) -> std::io::Result<()> {
    std::fs::write(path, npy_bytes(shape, data)?)
}

/// The bytes of a `.npy` file (f64 values in `shape`), e.g. for a web
/// page's download.
pub fn npy_bytes(shape: &[u64], data: &[f64]) -> std::io::Result<Vec<u8>> {
    use npyz::WriterBuilder;
    let mut bytes = std::io::Cursor::new(Vec::new());
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(&mut bytes)
        .begin_nd()?;
    writer.extend(data.iter().copied())?;
    writer.finish()?;
    Ok(bytes.into_inner())
}

/// An open JSON-lines file; each line is flushed as written, so a crashed run
/// keeps its metrics.
pub struct Lines {
    path: PathBuf,
    file: BufWriter<File>,
    bytes: u64,
}

impl Lines {
    /// Appends one JSON object as a line.
    pub fn write(&mut self, value: &serde_json::Value) -> Result<(), Error> {
        let line = format!("{value}\n");
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|e| io_error(&self.path, e))?;
        self.bytes += line.len() as u64;
        Ok(())
    }

    /// Bytes written to the file so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// The `status` of the run in `dir` from its summary.json: "complete",
/// "interrupted", "diverged" or "running" (also a run killed outright);
/// `None` without a summary.
pub fn status(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("summary.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["status"].as_str().map(str::to_string)
}
