//! The JSON-lines protocol between Occam and an external learner program
//! (docs/design.md §10). Occam starts the program once, in the experiment
//! file's folder, and keeps it running; each fit is one request line on the
//! program's stdin, answered by one reply line on its stdout:
//!
//! ```text
//! → {"protocol": 1, "id": 7, "seed": 123, "x_train": [[…], …], "z_train": […], "x_test": [[…], …]}
//! ← {"id": 7, "predictions": […]}          (one finite number per test point)
//! ← {"id": 7, "error": "what went wrong"}  (the run stops with this message)
//! ```
//!
//! The program must train on (x_train, z_train) from scratch (seeding its own
//! randomness with `seed`) and predict on x_test. Its stderr is passed
//! through. A reply that is late (past the timeout), missing (the program
//! exited), not JSON, for another id, or of the wrong length is an error
//! naming the program; a late program is killed, never waited on forever.
//! The timeout bounds the whole exchange: a program that does not read its
//! request (so that the write would block) is late too. Reply lines are read
//! up to [`MAX_REPLY_BYTES`]. The program runs in its own process group, so
//! a terminal's Ctrl-C reaches Occam alone, which finishes its meta-step and
//! checkpoints while the program keeps answering.

use crate::MetaError;
use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

/// The protocol version Occam speaks.
pub const PROTOCOL: u32 = 1;

/// The longest reply line read (64 MiB: about two million predictions).
pub const MAX_REPLY_BYTES: usize = 64 << 20;

/// The reader thread: `program`'s stdout line by line, each at most
/// [`MAX_REPLY_BYTES`] (a longer one is an error, and reading stops).
fn read_lines(stdout: impl Read, tx: Sender<std::io::Result<String>>) {
    let mut reader = BufReader::new(stdout);
    loop {
        let mut buf = Vec::new();
        let read = (&mut reader)
            .take(MAX_REPLY_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf);
        let line = match read {
            Ok(0) => return,
            Ok(_) if buf.last() != Some(&b'\n') && buf.len() > MAX_REPLY_BYTES => Err(
                std::io::Error::other(format!("a reply line longer than {MAX_REPLY_BYTES} bytes")),
            ),
            Ok(_) => {
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                }
                String::from_utf8(buf).map_err(std::io::Error::other)
            }
            Err(e) => Err(e),
        };
        let stop = line.is_err();
        if tx.send(line).is_err() || stop {
            return;
        }
    }
}

/// One fit request.
#[derive(Serialize)]
struct Request<'a> {
    protocol: u32,
    id: u64,
    seed: u64,
    x_train: Vec<&'a [f64]>,
    z_train: &'a [f64],
    x_test: Vec<&'a [f64]>,
}

/// One reply.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reply {
    id: u64,
    #[serde(default)]
    predictions: Option<Vec<f64>>,
    #[serde(default)]
    error: Option<String>,
}

/// A running external learner.
pub struct Session {
    name: String,
    child: Child,
    /// Request lines to the writer thread, which owns the program's stdin;
    /// it answers on `written` once each is written.
    requests: Sender<Vec<u8>>,
    written: Receiver<std::io::Result<()>>,
    lines: Receiver<std::io::Result<String>>,
    next_id: u64,
    timeout: Duration,
}

/// The writer thread: writes each request to the program's stdin and says
/// when it is written (a write blocks while the program does not read).
fn write_requests(
    mut stdin: ChildStdin,
    requests: Receiver<Vec<u8>>,
    written: Sender<std::io::Result<()>>,
) {
    for line in requests {
        let done = stdin.write_all(&line).and_then(|()| stdin.flush());
        let stop = done.is_err();
        if written.send(done).is_err() || stop {
            return;
        }
    }
}

fn failed(message: String) -> MetaError {
    MetaError::External {
        what: "external learner",
        message,
    }
}

impl Session {
    /// Starts `command` (program and arguments) in `dir`.
    pub fn start(command: &[String], dir: &std::path::Path, timeout: Duration) -> Result<Session> {
        let name = command.join(" ");
        let (program, args) = command
            .split_first()
            .ok_or_else(|| failed("the command is empty".into()))?;
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // Its own process group: a terminal's Ctrl-C goes to Occam's group
        // only, and Occam decides when the program stops.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .spawn()
            .map_err(|e| failed(format!("`{name}` (in {}) cannot start: {e}", dir.display())))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || read_lines(stdout, tx));
        let (requests, to_write) = channel();
        let (done, written) = channel();
        std::thread::spawn(move || write_requests(stdin, to_write, done));
        Ok(Session {
            name,
            child,
            requests,
            written,
            lines,
            next_id: 0,
            timeout,
        })
    }

    /// Why the program stopped answering.
    fn exited(&mut self, when: &str) -> MetaError {
        let status = match self.child.try_wait() {
            Ok(Some(s)) => format!("exited ({s})"),
            Ok(None) => {
                std::thread::sleep(Duration::from_millis(100));
                match self.child.try_wait() {
                    Ok(Some(s)) => format!("exited ({s})"),
                    _ => "closed its stdout".to_string(),
                }
            }
            Err(e) => format!("cannot be waited on ({e})"),
        };
        failed(format!("`{}` {status} {when}", self.name))
    }

    /// Trains the program on (x_tr, z_tr) (rows of `d` values) and returns
    /// its predictions on x_te.
    pub fn fit_predict(
        &mut self,
        (x_tr, z_tr, x_te): (&[f64], &[f64], &[f64]),
        d: usize,
        seed: u64,
    ) -> Result<Vec<f64>> {
        let id = self.next_id;
        self.next_id += 1;
        let request = Request {
            protocol: PROTOCOL,
            id,
            seed,
            x_train: x_tr.chunks(d).collect(),
            z_train: z_tr,
            x_test: x_te.chunks(d).collect(),
        };
        let mut line = serde_json::to_string(&request).expect("a request serialises");
        line.push('\n');
        // The timeout bounds the write and the reply together.
        let deadline = Instant::now() + self.timeout;
        let late = |s: &mut Session, what: &str| {
            let _ = s.child.kill();
            let _ = s.child.wait();
            failed(format!(
                "`{}` did not {what} request {id} within {:.1} s and was stopped (raise the learner's timeout_s if it needs longer)",
                s.name,
                s.timeout.as_secs_f64()
            ))
        };
        if self.requests.send(line.into_bytes()).is_err() {
            return Err(self.exited(&format!("before request {id} could be sent")));
        }
        match self.written.recv_timeout(self.timeout) {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(RecvTimeoutError::Disconnected) => {
                return Err(self.exited(&format!("before request {id} could be sent")));
            }
            Err(RecvTimeoutError::Timeout) => return Err(late(self, "read")),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let reply = match self.lines.recv_timeout(left) {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => return Err(failed(format!("`{}`: reading its reply: {e}", self.name))),
            Err(RecvTimeoutError::Disconnected) => {
                return Err(self.exited(&format!("without answering request {id}")));
            }
            Err(RecvTimeoutError::Timeout) => return Err(late(self, "answer")),
        };
        let shown: String = reply.chars().take(200).collect();
        let reply: Reply = serde_json::from_str(&reply).map_err(|e| {
            failed(format!(
                "`{}` answered request {id} with a malformed line ({e}): {shown}",
                self.name
            ))
        })?;
        if reply.id != id {
            return Err(failed(format!(
                "`{}` answered request {id} with id {}",
                self.name, reply.id
            )));
        }
        if let Some(message) = reply.error {
            return Err(failed(format!(
                "`{}` reported an error on request {id}: {message}",
                self.name
            )));
        }
        let m = x_te.len() / d;
        match reply.predictions {
            Some(p) if p.len() == m && p.iter().all(|v| v.is_finite()) => Ok(p),
            Some(p) if p.len() != m => Err(failed(format!(
                "`{}` answered request {id} with {} predictions for {m} test points",
                self.name,
                p.len()
            ))),
            Some(_) => Err(failed(format!(
                "`{}` answered request {id} with a prediction that is not a finite number",
                self.name
            ))),
            None => Err(failed(format!(
                "`{}` answered request {id} with neither \"predictions\" nor \"error\"",
                self.name
            ))),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
