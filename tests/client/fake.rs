//! A scripted FTP server on raw sockets, for what no real server does on
//! purpose: names that climb out of the client's target, checksum verbs our
//! server does not have yet, escapes and endless replies. It serves every
//! connection in turn (EPSV only), records each command line it receives,
//! and answers from tables the test fills.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Answers a command the tables do not cover: `(VERB, ARG)` to the reply
/// lines (CRLF added), or `None` for the default.
pub type Extra = Box<dyn Fn(&str, &str) -> Option<String> + Send + Sync>;

/// What the fake server knows.
#[derive(Default)]
pub struct Script {
    /// Lines of the FEAT reply (each sent after a space).
    pub feat: Vec<String>,
    /// Listings by argument (`""` for none): the bytes sent for MLSD, LIST
    /// and NLST alike.
    pub listings: HashMap<String, String>,
    /// Files by RETR argument.
    pub files: HashMap<String, Vec<u8>>,
    /// The bytes any other RETR gets (a hostile server serves every name).
    pub any_file: Option<Vec<u8>>,
    /// Other commands.
    pub extra: Option<Extra>,
    /// The greeting, without its CRLF.
    pub greeting: Option<String>,
}

/// A running fake server.
pub struct Fake {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    /// Starts serving `script` on a free port of 127.0.0.1.
    pub fn start(script: Script) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(script);
        let log2 = Arc::clone(&log);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (script, log) = (Arc::clone(&script), Arc::clone(&log2));
                std::thread::spawn(move || serve(conn, &script, &log));
            }
        });
        Fake { addr, log }
    }

    /// Every command line received so far.
    pub fn commands(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn send_data(data: &Option<TcpListener>, bytes: &[u8]) -> bool {
    let Some(l) = data else { return false };
    l.set_nonblocking(false).unwrap();
    // The client connects right after 229; a few seconds is plenty.
    let (tx, rx) = std::sync::mpsc::channel();
    let l = l.try_clone().unwrap();
    std::thread::spawn(move || {
        let _ = tx.send(l.accept());
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok((mut s, _))) => {
            let _ = s.write_all(bytes);
            true
        }
        _ => false,
    }
}

fn serve(conn: TcpStream, script: &Script, log: &Mutex<Vec<String>>) {
    conn.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    let greeting = script.greeting.clone().unwrap_or_else(|| "220 fake server".into());
    if w.write_all(format!("{greeting}\r\n").as_bytes()).is_err() {
        return;
    }
    let mut data: Option<TcpListener> = None;
    let mut line = String::new();
    while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
        let text = line.trim_end_matches(['\r', '\n']).to_string();
        line.clear();
        log.lock().unwrap().push(text.clone());
        let (verb, arg) = text.split_once(' ').unwrap_or((&text, ""));
        let verb = verb.to_ascii_uppercase();
        let reply = if let Some(x) = script.extra.as_ref().and_then(|f| f(&verb, arg)) {
            x
        } else {
            match verb.as_str() {
                "USER" => "331 Password please.".into(),
                "PASS" => "230 Logged in.".into(),
                "TYPE" | "NOOP" | "OPTS" => "200 OK.".into(),
                "PWD" => "257 \"/\" is the current directory.".into(),
                "CWD" | "CDUP" => "250 OK.".into(),
                "FEAT" => {
                    let mut f = String::from("211-Features:\r\n");
                    for l in &script.feat {
                        f.push_str(&format!(" {l}\r\n"));
                    }
                    f.push_str("211 End");
                    f
                }
                "EPSV" => {
                    let l = TcpListener::bind("127.0.0.1:0").unwrap();
                    let port = l.local_addr().unwrap().port();
                    data = Some(l);
                    format!("229 Entering Extended Passive Mode (|||{port}|)")
                }
                "MLSD" | "LIST" | "NLST" => match script.listings.get(arg) {
                    Some(text) => {
                        let _ = w.write_all(b"150 Here it comes.\r\n");
                        if send_data(&data.take(), text.as_bytes()) {
                            "226 Done.".into()
                        } else {
                            "425 No data connection.".into()
                        }
                    }
                    None => "550 No such directory.".into(),
                },
                "SIZE" => match script.files.get(arg).or(script.any_file.as_ref()) {
                    Some(f) => format!("213 {}", f.len()),
                    None => "550 No such file.".into(),
                },
                "RETR" => match script.files.get(arg).or(script.any_file.as_ref()) {
                    Some(f) => {
                        let _ = w.write_all(format!("150 Opening ({} bytes).\r\n", f.len()).as_bytes());
                        if send_data(&data.take(), f) {
                            "226 Done.".into()
                        } else {
                            "425 No data connection.".into()
                        }
                    }
                    None => "550 No such file.".into(),
                },
                "QUIT" => {
                    let _ = w.write_all(b"221 Bye.\r\n");
                    return;
                }
                _ => "502 Not implemented.".into(),
            }
        };
        if w.write_all(format!("{reply}\r\n").as_bytes()).is_err() {
            return;
        }
    }
}
