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
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_error(&path, e))?;
        let len = file.metadata().map_err(|e| io_error(&path, e))?.len();
        if len < bytes {
            return Err(Error::input(format!(
                "{}: holds {len} bytes, fewer than the {bytes} its checkpoint recorded",
                path.display()
            )));
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

/// Writes `path` by writing a temporary file beside it and renaming it into
/// place (a rename within a folder is atomic).
pub fn atomic(
    path: &Path,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{}.tmp", name.unwrap_or_default()));
    write(&tmp)?;
    std::fs::rename(&tmp, path)
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
        let unfinished = crate::run::status(dir).is_none_or(|s| s != "complete");
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
    use npyz::WriterBuilder;
    let file = BufWriter::new(File::create(path)?);
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(file)
        .begin_nd()?;
    writer.extend(data.iter().copied())?;
    writer.finish()
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
