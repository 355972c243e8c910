//! A TCP proxy whose connections can be frozen: what they carry stops both ways, their
//! sockets stay open (a peer gone without a word, as after a failover); connections made
//! after a freeze are carried.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// A running proxy to one upstream port.
pub struct Proxy {
    pub port: u16,
    generation: Arc<AtomicU64>,
}

impl Proxy {
    /// Listens on a free port of the loopback, carrying to `127.0.0.1:upstream`.
    pub async fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let generation = Arc::new(AtomicU64::new(0));
        let current = generation.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let born = current.load(Ordering::SeqCst);
                let current = current.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    let up = carry(cr, sw, born, current.clone());
                    let down = carry(sr, cw, born, current);
                    let _ = tokio::join!(up, down);
                });
            }
        });
        Proxy { port, generation }
    }

    /// Freezes every connection made so far.
    pub fn freeze(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// Copies `from` to `to` while the connection's generation is current; once frozen, holds
/// both open and carries nothing, for good.
async fn carry(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    born: u64,
    current: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let frozen = async {
            while current.load(Ordering::SeqCst) == born {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        };
        let n = tokio::select! {
            n = from.read(&mut buf) => n,
            _ = frozen => break,
        };
        match n {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if current.load(Ordering::SeqCst) != born || to.write_all(&buf[..n]).await.is_err()
                {
                    break;
                }
            }
        }
    }
    // Frozen: keep the sockets, say nothing.
    std::future::pending::<()>().await;
    drop((from, to));
}
