//! A TCP proxy on 127.0.0.1 that cuts the connections it carries at chosen points: after a
//! number of bytes towards the server, just before the server's first response reaches the
//! client, after a time, or at once. `#[path]`-included by the gRPC tests, so each uses only
//! part of it.
//!
//! A cut shuts both sockets down and closes them (the side that still sends gets a reset):
//! what was in flight is lost, as when a network path or a middlebox fails. Each connection
//! is served by two threads (one per direction); every blocking call ends when the proxy
//! cuts or drops the connection.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the proxy does with one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Carry it until either side closes it.
    Pass,
    /// Forward exactly this many bytes towards the server, then cut (what the client sent
    /// beyond them is lost).
    UpstreamBytes(u64),
    /// Forward everything towards the server, but cut just before the first HTTP/2 HEADERS
    /// frame from the server (the first response) would reach the client: the server got
    /// the call, the client never learns how it ended.
    FirstResponse,
    /// Forward exactly this many bytes towards the server, then stop reading from the
    /// client while keeping both sockets open (a server that stopped reading; TCP says it
    /// is there).
    Stall(u64),
    /// Cut this long after the connection was accepted.
    After(Duration),
    /// Close it at once, before any byte is forwarded (the server seems down).
    Refuse,
}

/// HTTP/2 frame type of HEADERS (RFC 9113 §6.2).
const HEADERS: u8 = 0x1;

/// One proxied connection: both sockets, to cut them from any thread.
struct Link {
    client: TcpStream,
    server: TcpStream,
    cut: AtomicBool,
    ended: Mutex<bool>,
    ended_cv: Condvar,
}

impl Link {
    /// Shuts both sockets down (once); the forwarding threads then end.
    fn cut(&self, counted: &AtomicU64) {
        if !self.cut.swap(true, Ordering::AcqRel) {
            counted.fetch_add(1, Ordering::Relaxed);
        }
        self.close();
    }

    fn close(&self) {
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.server.shutdown(Shutdown::Both);
        *self.ended.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.ended_cv.notify_all();
    }

    /// Waits until `deadline` or until the connection ended; returns whether it is still up.
    fn alive_until(&self, deadline: Instant) -> bool {
        let mut ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        while !*ended {
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            ended = self
                .ended_cv
                .wait_timeout(ended, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        false
    }
}

struct ProxyState {
    upstream: SocketAddr,
    plan: Box<dyn Fn(u64) -> Plan + Send + Sync>,
    stop: AtomicBool,
    connections: AtomicU64,
    cuts: AtomicU64,
    links: Mutex<Vec<Arc<Link>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// The proxy (see the module docs); stops and closes every connection when dropped.
pub struct CutProxy {
    addr: SocketAddr,
    shared: Arc<ProxyState>,
    accept: Option<JoinHandle<()>>,
}

impl CutProxy {
    /// Listens on 127.0.0.1 and forwards each connection to `upstream` with `plan(n)` for
    /// the n-th connection (0-based).
    pub fn start(upstream: SocketAddr, plan: impl Fn(u64) -> Plan + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(ProxyState {
            upstream,
            plan: Box::new(plan),
            stop: AtomicBool::new(false),
            connections: AtomicU64::new(0),
            cuts: AtomicU64::new(0),
            links: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let accept = std::thread::Builder::new()
            .name("cut-proxy".to_owned())
            .spawn(move || accept_loop(&listener, &s))
            .unwrap();
        Self {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `rerun+http://ADDR/proxy`.
    pub fn url(&self) -> String {
        format!("rerun+http://{}/proxy", self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Connections cut by a plan so far (`Refuse` included).
    pub fn cuts(&self) -> u64 {
        self.shared.cuts.load(Ordering::Relaxed)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        for link in self.shared.links.lock().unwrap().drain(..) {
            link.close();
        }
        let threads: Vec<_> = self.shared.threads.lock().unwrap().drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<ProxyState>) {
    for client in listener.incoming() {
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        let Ok(client) = client else { continue };
        let n = shared.connections.fetch_add(1, Ordering::Relaxed);
        let plan = (shared.plan)(n);
        if plan == Plan::Refuse {
            shared.cuts.fetch_add(1, Ordering::Relaxed);
            drop(client);
            continue;
        }
        let Ok(server) = TcpStream::connect(shared.upstream) else {
            continue; // the client sees its connection closed, as if the server were down
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let link = Arc::new(Link {
            client: client.try_clone().unwrap(),
            server: server.try_clone().unwrap(),
            cut: AtomicBool::new(false),
            ended: Mutex::new(false),
            ended_cv: Condvar::new(),
        });
        shared.links.lock().unwrap().push(link.clone());
        let mut threads = Vec::new();
        {
            let (link, s) = (link.clone(), shared.clone());
            let (from, to) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            threads.push(std::thread::spawn(move || {
                upstream(from, to, plan, &link, &s)
            }));
        }
        {
            let (link, s) = (link.clone(), shared.clone());
            threads.push(std::thread::spawn(move || {
                downstream(server, client, plan, &link, &s)
            }));
        }
        if let Plan::After(after) = plan {
            let (link, s) = (link.clone(), shared.clone());
            threads.push(std::thread::spawn(move || {
                if link.alive_until(Instant::now() + after) {
                    link.cut(&s.cuts);
                }
            }));
        }
        shared.threads.lock().unwrap().extend(threads);
    }
}

/// Client → server, cutting after `UpstreamBytes`, stalling after `Stall`.
fn upstream(mut from: TcpStream, mut to: TcpStream, plan: Plan, link: &Link, s: &ProxyState) {
    let limit = match plan {
        Plan::UpstreamBytes(n) | Plan::Stall(n) => n,
        _ => u64::MAX,
    };
    let mut sent = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        if sent >= limit {
            if let Plan::Stall(_) = plan {
                // Until the client or the proxy ends the connection.
                link.alive_until(Instant::now() + Duration::from_secs(3600));
                return;
            }
            link.cut(&s.cuts);
            return;
        }
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let take = (n as u64).min(limit - sent) as usize;
        if to.write_all(&buf[..take]).is_err() {
            break;
        }
        sent += take as u64;
    }
    link.close();
}

/// Server → client, cutting before the first HEADERS frame with `FirstResponse`.
fn downstream(mut from: TcpStream, mut to: TcpStream, plan: Plan, link: &Link, s: &ProxyState) {
    let result = if plan == Plan::FirstResponse {
        frames_until_headers(&mut from, &mut to)
    } else {
        io::copy(&mut from, &mut to).map(|_| false)
    };
    if matches!(result, Ok(true)) {
        link.cut(&s.cuts);
    } else {
        link.close();
    }
}

/// Forwards whole HTTP/2 frames (a server sends no preface magic, only frames) until a
/// HEADERS frame arrives, which is not forwarded; returns whether one did.
fn frames_until_headers(from: &mut TcpStream, to: &mut TcpStream) -> io::Result<bool> {
    let mut head = [0u8; 9];
    let mut payload = Vec::new();
    loop {
        from.read_exact(&mut head)?;
        if head[3] == HEADERS {
            return Ok(true);
        }
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        payload.resize(len, 0);
        from.read_exact(&mut payload)?;
        to.write_all(&head)?;
        to.write_all(&payload)?;
    }
}
