// Seed: 003_51b0639b010488b3.txt, "Downloading links concurrently" (ThreadPoolExecutor +
// as_completed).
//! Downloads five URLs on a pool of five workers and reports each as it completes, as the
//! seed does with `concurrent.futures.as_completed`. There is no internet here, so the
//! example serves four pages itself from a tiny HTTP server on 127.0.0.1; the fifth URL points
//! at a closed port and "generated an exception", like the seed's made-up domain. The HTTP
//! client is a real one (`ureq`).
//!
//! Run with `cargo run -p threadkit --example executor_download`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;
use threadkit::executor::{as_completed, ThreadPool};

/// Serves `pages` (path -> body size) on 127.0.0.1 for `requests` requests; returns the port
/// and the server thread.
fn serve(
    pages: HashMap<&'static str, usize>,
    requests: usize,
) -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(mut stream) = stream else { continue };
            let path = read_request_path(&mut stream);
            let (status, body) = match pages.get(path.as_str()) {
                Some(&size) => ("200 OK", "x".repeat(size)),
                None => ("404 Not Found", String::from("not found")),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, server)
}

/// Reads an HTTP request's head and returns its path.
fn read_request_path(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    text.split_whitespace().nth(1).unwrap_or("/").to_owned()
}

/// Retrieve a single page and report the URL and contents (the seed's `load_url`).
fn load_url(url: &str, timeout: Duration) -> Result<Vec<u8>, Box<ureq::Error>> {
    let response = ureq::get(url).timeout(timeout).call()?;
    let mut data = Vec::new();
    response
        .into_reader()
        .read_to_end(&mut data)
        .map_err(|e| Box::new(e.into()))?;
    Ok(data)
}

fn main() {
    let pages = HashMap::from([
        ("/www.foxnews.com/", 4_321),
        ("/www.cnn.com/", 1_234),
        ("/europe.wsj.com/", 9_876),
        ("/www.bbc.co.uk/", 5_555),
    ]);
    let (port, server) = serve(pages, 4);
    // A port nobody listens on: the connection is refused.
    let closed_port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let urls: Vec<String> = vec![
        format!("http://127.0.0.1:{port}/www.foxnews.com/"),
        format!("http://127.0.0.1:{port}/www.cnn.com/"),
        format!("http://127.0.0.1:{port}/europe.wsj.com/"),
        format!("http://127.0.0.1:{port}/www.bbc.co.uk/"),
        format!("http://127.0.0.1:{closed_port}/some-made-up-domain.com/"),
    ];

    // The pool is dropped (joined) at the end of the block, like the seed's `with`.
    {
        let executor = ThreadPool::builder().max_workers(5).build().unwrap();
        // Start the load operations; position i of `futures` is the future of `urls[i]`.
        let futures: Vec<_> = urls
            .iter()
            .map(|url| {
                let url = url.clone();
                executor
                    .submit(move || load_url(&url, Duration::from_secs(60)))
                    .unwrap()
            })
            .collect();
        let mut failures = 0;
        for (i, future) in as_completed(&futures) {
            let url = &urls[i];
            // `ureq::Error` is not Clone, so move the value out (`result()` would clone it).
            // The task itself did not panic; its own Result says whether the download worked.
            match future
                .clone()
                .into_result()
                .expect("load_url does not panic")
            {
                Err(exc) => {
                    failures += 1;
                    println!("{url:?} generated an exception: {exc}");
                }
                Ok(data) => println!("{url:?} page is {} bytes", data.len()),
            }
        }
        assert_eq!(failures, 1);
    }
    server.join().unwrap();
}
