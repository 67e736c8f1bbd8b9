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

use occam_ops::{OpError, Result};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

/// The protocol version Occam speaks.
pub const PROTOCOL: u32 = 1;

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
    stdin: ChildStdin,
    lines: Receiver<std::io::Result<String>>,
    next_id: u64,
    timeout: Duration,
}

fn failed(message: String) -> OpError {
    OpError::External {
        op: "external learner",
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
        let mut child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| failed(format!("`{name}` (in {}) cannot start: {e}", dir.display())))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Session {
            name,
            child,
            stdin,
            lines,
            next_id: 0,
            timeout,
        })
    }

    /// Why the program stopped answering.
    fn exited(&mut self, when: &str) -> OpError {
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
        if self
            .stdin
            .write_all(line.as_bytes())
            .and_then(|_| self.stdin.flush())
            .is_err()
        {
            return Err(self.exited(&format!("before request {id} could be sent")));
        }
        let reply = match self.lines.recv_timeout(self.timeout) {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => return Err(failed(format!("`{}`: reading its reply: {e}", self.name))),
            Err(RecvTimeoutError::Disconnected) => {
                return Err(self.exited(&format!("without answering request {id}")));
            }
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(failed(format!(
                    "`{}` did not answer request {id} within {:.1} s and was stopped (raise the learner's timeout_s if it needs longer)",
                    self.name,
                    self.timeout.as_secs_f64()
                )));
            }
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
