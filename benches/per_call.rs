//! Per-call cost of the SDK against the same calls hand-written with reqwest, side by side in
//! one run: `cargo bench --bench per_call` (add `-- --quick` for a short run that only proves it
//! works). The stand-in server is the sandbox, in a child process of this binary (its CPU is not
//! counted); both sides share it, alternate in blocks, and use one reused client each.
//!
//! Reported per operation and side: median and p99 latency of sequential calls, CPU time per call
//! (getrusage, whole process), heap allocations per call (a counting global allocator), and
//! throughput with 64 calls in flight; then the SDK/hand-written ratios. The figures are written
//! to `target/bench/per_call.json`. Nothing here asserts a time: machines are noisy.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    io::{BufRead, Write},
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use base64::Engine;
use futures::{stream, StreamExt};
use preventor::{
    compliance::types::{Acknowledgement, Customer, MonetaryTransaction},
    BioPhotos, BiometricsClient, ComplianceClient, EndUserContext, Photo, TransactionType,
};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, USER_AGENT};
use serde_json::json;

/// Counts every allocation of this process.
struct Counting;
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// User + system CPU time of this process.
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a rusage into the pointer it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let t = |tv: libc::timeval| Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000);
    t(usage.ru_utime) + t(usage.ru_stime)
}

/// What one side measured for one operation.
#[derive(Default)]
struct Side {
    latencies: Vec<Duration>,
    cpu: Duration,
    allocations: u64,
    calls: u64,
    throughput: Vec<f64>,
}

impl Side {
    fn percentile(&self, p: f64) -> f64 {
        let mut l: Vec<f64> = self
            .latencies
            .iter()
            .map(|d| d.as_secs_f64() * 1e6)
            .collect();
        l.sort_by(f64::total_cmp);
        l[((l.len() - 1) as f64 * p).round() as usize]
    }
    fn cpu_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.calls as f64
    }
    fn allocs(&self) -> f64 {
        self.allocations as f64 / self.calls as f64
    }
    fn rate(&self) -> f64 {
        let mut t = self.throughput.clone();
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    }
}

/// One call of one operation, by the SDK (`sdk = true`) or by hand; `n` makes ids unique.
trait Operation {
    fn name(&self) -> &'static str;
    async fn call(&self, sdk: bool, n: u64);
}

struct Env {
    url: String,
    sdk: ComplianceClient,
    http: reqwest::Client,
    headers: HeaderMap,
}

/// `registerMonetaryTransaction` with the token cached.
struct Transactions<'a>(&'a Env);

impl Operation for Transactions<'_> {
    fn name(&self) -> &'static str {
        "registerMonetaryTransaction"
    }
    async fn call(&self, sdk: bool, n: u64) {
        let body = json!({
            "id": format!("tx-{sdk}-{n}"), "account_number": "acc-bench",
            "trans_amount": "1250.75", "trans_currency": "PEN",
            "trans_posting_date": "2024-03-01T10:00:00Z", "trans_description": "bench"
        });
        if sdk {
            let tx: MonetaryTransaction = serde_json::from_value(body).unwrap();
            self.0.sdk.register_monetary_transaction(tx).await.unwrap();
        } else {
            let tx: MonetaryTransaction = serde_json::from_value(body).unwrap();
            let response = self
                .0
                .http
                .post(format!(
                    "{}/onboarding/registerMonetaryTransaction",
                    self.0.url
                ))
                .headers(self.0.headers.clone())
                .json(&tx)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            let _: Acknowledgement = response.json().await.unwrap();
        }
    }
}

/// `getCustomer`: a multipart form.
struct GetCustomer<'a>(&'a Env);

impl Operation for GetCustomer<'_> {
    fn name(&self) -> &'static str {
        "getCustomer"
    }
    async fn call(&self, sdk: bool, _: u64) {
        if sdk {
            self.0.sdk.get_customer("cu-bench").await.unwrap();
        } else {
            let form = reqwest::multipart::Form::new().text("cifCod", "cu-bench");
            let response = self
                .0
                .http
                .post(format!("{}/onboarding/getCustomer", self.0.url))
                .headers(self.0.headers.clone())
                .multipart(form)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            let _: Customer = response.json().await.unwrap();
        }
    }
}

/// `uploadBioFiles`: four photos of 1 MiB.
struct Upload<'a> {
    env: &'a Env,
    session: preventor::BioSession,
    user_id: String,
    /// The hand-written side's own process token and bio user.
    token: String,
    hand_user_id: String,
    photos: BioPhotos,
}

impl Operation for Upload<'_> {
    fn name(&self) -> &'static str {
        "uploadBioFiles"
    }
    async fn call(&self, sdk: bool, _: u64) {
        if sdk {
            self.session
                .upload(&self.user_id, &self.photos)
                .await
                .unwrap();
        } else {
            let uri = |p: &Photo| {
                let mut s = String::from("data:image/jpeg;base64,");
                base64::engine::general_purpose::STANDARD.encode_string(p.as_bytes(), &mut s);
                s
            };
            let p = &self.photos;
            let body = json!({
                "portraits": {"picture1": uri(&p.portrait), "picture2": p.second_portrait.as_ref().map(uri)},
                "documents": {"picture1": uri(&p.document_front), "picture2": p.document_back.as_ref().map(uri)},
            });
            let mut headers = self.env.headers.clone();
            headers.remove("x-lang");
            headers.remove("x-tzone");
            headers.remove("x-user-agent");
            headers.remove("x-real-ip");
            headers.insert("x-ip", HeaderValue::from_static("203.0.113.7"));
            headers.insert(
                AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {}", self.token)).unwrap(),
            );
            let response = self
                .env
                .http
                .post(format!(
                    "{}/v1/workflow/enroll/user/{}/upload",
                    self.env.url, self.hand_user_id
                ))
                .headers(headers)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            let _: serde_json::Value = response.json().await.unwrap();
        }
    }
}

/// Interleaved blocks of sequential calls, then interleaved throughput runs at 64 in flight.
async fn measure(op: &impl Operation, blocks: u64, block: u64, in_flight_calls: u64) -> [Side; 2] {
    let mut sides = [Side::default(), Side::default()];
    let mut n = 0u64;
    for _ in 0..2 {
        // warm-up: connections, token, caches
        op.call(true, n).await;
        op.call(false, n).await;
        n += 1;
    }
    for b in 0..blocks {
        for s in [b % 2 == 0, b % 2 == 1] {
            let side = &mut sides[usize::from(!s)];
            let (cpu, allocs) = (cpu_time(), ALLOCATIONS.load(Ordering::Relaxed));
            for _ in 0..block {
                let started = Instant::now();
                op.call(s, n).await;
                side.latencies.push(started.elapsed());
                n += 1;
            }
            side.cpu += cpu_time() - cpu;
            side.allocations += ALLOCATIONS.load(Ordering::Relaxed) - allocs;
            side.calls += block;
        }
    }
    // Rounds in pairs (one per side, the order alternating): the ratio is the median of the
    // pairs' ratios, so that a slow stretch of the machine hits both sides of a pair.
    for round in 0..THROUGHPUT_ROUNDS {
        for s in [round % 2 == 0, round % 2 == 1] {
            let start = n;
            n += in_flight_calls;
            let started = Instant::now();
            stream::iter(start..start + in_flight_calls)
                .map(|i| op.call(s, i))
                .buffer_unordered(64)
                .collect::<Vec<_>>()
                .await;
            let rate = in_flight_calls as f64 / started.elapsed().as_secs_f64();
            sides[usize::from(!s)].throughput.push(rate);
        }
    }
    sides
}

fn serve() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sandbox = preventor_sandbox::Sandbox::start(Default::default())
            .await
            .unwrap();
        println!("{}", sandbox.url());
        std::io::stdout().flush().unwrap();
        // Until the parent closes stdin.
        tokio::task::spawn_blocking(|| std::io::stdin().lines().count())
            .await
            .unwrap();
    });
}

fn main() {
    if std::env::args().any(|a| a == "--serve") {
        return serve();
    }
    // `cargo bench` passes `--bench`; without it (`cargo test --all-targets` runs benches as
    // tests) a quick run proves the benchmark works without loading the machine for minutes.
    let quick = std::env::args().any(|a| a == "--quick" || a == "--test")
        || !std::env::args().any(|a| a == "--bench");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("--serve")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let url = url.trim().to_string();
    // `--profile` (callgrind): one thread, so that instruction counts do not depend on how
    // two workers happened to share the work; `--profile ... --threads N` (perf): N workers,
    // as the importer runs, to see what the multi-thread path adds.
    let args: Vec<String> = std::env::args().collect();
    let threads = args
        .iter()
        .position(|a| a == "--threads")
        .and_then(|at| args.get(at + 1)?.parse::<usize>().ok());
    let runtime = if let (true, Some(threads)) = (args.iter().any(|a| a == "--profile"), threads) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
            .unwrap()
    } else if args.iter().any(|a| a == "--profile") {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    };
    let report = runtime.block_on(run(url, quick));
    drop(child.stdin.take());
    let _ = child.wait();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("per_call.json"),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
    println!("figures written to target/bench/per_call.json");
}

async fn run(url: String, quick: bool) -> serde_json::Value {
    let creds = preventor_sandbox::Credentials::default();
    let context = EndUserContext::default()
        .lang("es")
        .tzone("America/Lima")
        .ip("203.0.113.7")
        .user_agent("bench/1.0");
    let sdk = ComplianceClient::builder()
        .base_url(&url)
        .tenant(creds.tenant())
        .credentials(creds.oauth())
        .context(context.clone())
        .build()
        .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    // The hand-written side gets its token once, by hand, as a program would.
    let token: serde_json::Value = http
        .post(format!("{url}/security/oauth/token"))
        .basic_auth(&creds.client_id, Some(&creds.client_secret))
        .header("x-api-key", &creds.api_key)
        .header("x-tenant", &creds.tenant)
        .header("x-env", &creds.env)
        .header("x-banknu", &creds.banknu)
        .form(&[
            ("grant_type", "password"),
            ("username", creds.username.as_str()),
            ("password", creds.password.as_str()),
            ("scope", "read"),
            ("client_id", creds.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("x-api-key", creds.api_key.as_str()),
        ("x-tenant", creds.tenant.as_str()),
        ("x-env", creds.env.as_str()),
        ("x-banknu", creds.banknu.as_str()),
        ("x-lang", "es"),
        ("x-tzone", "America/Lima"),
        ("x-user-agent", "bench/1.0"),
        ("x-real-ip", "203.0.113.7"),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    headers.insert(USER_AGENT, HeaderValue::from_static("bench/1.0"));
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!(
            "Bearer {}",
            token["access_token"].as_str().unwrap()
        ))
        .unwrap(),
    );
    let env = Env {
        url: url.clone(),
        sdk,
        http,
        headers,
    };
    // The records the operations need.
    let account = json!({"request_type": "A", "id": "acc-bench", "account_number": "acc-bench"});
    env.sdk
        .account_onboarding(serde_json::from_value(account).unwrap())
        .await
        .unwrap();
    let customer =
        json!({"request_type": "A", "id": "cu-bench", "first_name": "BENCH", "last_name": "MARK"});
    env.sdk
        .customer_onboarding(serde_json::from_value(customer).unwrap())
        .await
        .unwrap();
    let biometrics = BiometricsClient::builder()
        .base_url(&url)
        .tenant(creds.tenant())
        .api_secret(&creds.api_secret)
        .context(context)
        .build()
        .unwrap();
    let session = biometrics
        .start_session(TransactionType::Onboarding, None)
        .await
        .unwrap();
    let user_id = session.create_user().await.unwrap().user_id;
    // The hand-written side's own process token and user.
    let bio_token: serde_json::Value = env
        .http
        .post(format!("{url}/v1/auth/token"))
        .basic_auth(&creds.api_key, Some(&creds.api_secret))
        .headers(tenant_only(&env.headers))
        .json(&json!({"transactionType": "ONBOARDING"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = bio_token["token"].as_str().unwrap().to_string();
    let user: serde_json::Value = env
        .http
        .post(format!("{url}/v1/workflow/enroll/user"))
        .bearer_auth(&token)
        .headers(tenant_only(&env.headers))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sample = include_bytes!("../examples/photos/portrait.jpg");
    let mut big = sample.to_vec();
    big.resize(preventor::MAX_PHOTO_BYTES, 0);
    let photo = Photo::from_bytes(big).unwrap();
    let photos = BioPhotos {
        portrait: photo.clone(),
        second_portrait: Some(photo.clone()),
        document_front: photo.clone(),
        document_back: Some(photo),
    };
    let upload = Upload {
        env: &env,
        session,
        user_id,
        token,
        hand_user_id: user["userId"].as_str().unwrap().to_string(),
        photos,
    };

    // `--profile sdk|hand N [OPERATION [IN_FLIGHT]] [--threads T]`: only N calls on one side, one at a time
    // unless IN_FLIGHT says otherwise (for callgrind: the instructions per call are
    // (Ir(N) - Ir(0)) / N); transactions unless getCustomer.
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--profile") {
        let sdk = args.get(at + 1).is_some_and(|s| s == "sdk");
        let n: u64 = args
            .get(at + 2)
            .and_then(|n| n.parse().ok())
            .unwrap_or(1000);
        let operation = args
            .get(at + 3)
            .map_or("registerMonetaryTransaction", |s| s);
        let in_flight: usize = args.get(at + 4).and_then(|n| n.parse().ok()).unwrap_or(1);
        async fn calls(op: impl Operation, sdk: bool, n: u64, in_flight: usize) {
            op.call(sdk, u64::MAX).await;
            if in_flight == 1 {
                for i in 0..n {
                    op.call(sdk, i).await;
                }
            } else {
                stream::iter(0..n)
                    .map(|i| op.call(sdk, i))
                    .buffer_unordered(in_flight)
                    .collect::<Vec<_>>()
                    .await;
            }
        }
        match operation {
            "registerMonetaryTransaction" => calls(Transactions(&env), sdk, n, in_flight).await,
            "getCustomer" => calls(GetCustomer(&env), sdk, n, in_flight).await,
            other => {
                panic!("--profile: no operation {other} (registerMonetaryTransaction, getCustomer)")
            }
        }
        return json!({"profile": if sdk { "sdk" } else { "hand" }, "operation": operation, "calls": n});
    }
    let (blocks, block, flight) = if quick {
        (2, 50, 128)
    } else {
        (10, 2000, 5000)
    };
    let mut rows = Vec::new();
    rows.push(report(
        &Transactions(&env),
        measure(&Transactions(&env), blocks, block, flight).await,
    ));
    rows.push(report(
        &GetCustomer(&env),
        measure(&GetCustomer(&env), blocks, block, flight).await,
    ));
    let (ub, uc, uf) = if quick { (2, 2, 8) } else { (10, 20, 128) };
    rows.push(report(&upload, measure(&upload, ub, uc, uf).await));
    json!({ "quick": quick, "operations": rows })
}

/// The tenant headers of `all`, for the biometrics calls.
fn tenant_only(all: &HeaderMap) -> HeaderMap {
    all.iter()
        .filter(|(n, _)| ["x-api-key", "x-tenant", "x-env", "x-banknu"].contains(&n.as_str()))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

/// Pairs of throughput rounds per operation.
const THROUGHPUT_ROUNDS: u64 = 8;

/// The median of the paired throughput ratios, SDK / hand-written.
fn throughput_ratio(sdk: &Side, hand: &Side) -> f64 {
    let mut ratios: Vec<f64> = sdk
        .throughput
        .iter()
        .zip(&hand.throughput)
        .map(|(s, h)| s / h)
        .collect();
    ratios.sort_by(f64::total_cmp);
    let n = ratios.len();
    (ratios[(n - 1) / 2] + ratios[n / 2]) / 2.0
}

fn report(op: &impl Operation, [sdk, hand]: [Side; 2]) -> serde_json::Value {
    let ratio = |a: f64, b: f64| a / b;
    let row = json!({
        "operation": op.name(),
        "calls_per_side": sdk.calls,
        "sdk": {"median_us": sdk.percentile(0.5), "p99_us": sdk.percentile(0.99), "cpu_us_per_call": sdk.cpu_us(), "allocations_per_call": sdk.allocs(), "calls_per_s_at_64": sdk.rate()},
        "hand_written": {"median_us": hand.percentile(0.5), "p99_us": hand.percentile(0.99), "cpu_us_per_call": hand.cpu_us(), "allocations_per_call": hand.allocs(), "calls_per_s_at_64": hand.rate()},
        "ratios": {
            "median": ratio(sdk.percentile(0.5), hand.percentile(0.5)),
            "p99": ratio(sdk.percentile(0.99), hand.percentile(0.99)),
            "cpu_per_call": ratio(sdk.cpu_us(), hand.cpu_us()),
            "allocations_extra_per_call": sdk.allocs() - hand.allocs(),
            "throughput_at_64": throughput_ratio(&sdk, &hand),
        }
    });
    println!(
        "{:<28} median {:>7.1} / {:>7.1} us ({:.2}x)  p99 {:>7.1} / {:>7.1} us ({:.2}x)  cpu {:>6.1} / {:>6.1} us ({:.2}x)  allocs {:>6.1} / {:>6.1} ({:+.1})  at 64 in flight {:>7.0} / {:>7.0} /s ({:.2}x)",
        op.name(),
        sdk.percentile(0.5), hand.percentile(0.5), ratio(sdk.percentile(0.5), hand.percentile(0.5)),
        sdk.percentile(0.99), hand.percentile(0.99), ratio(sdk.percentile(0.99), hand.percentile(0.99)),
        sdk.cpu_us(), hand.cpu_us(), ratio(sdk.cpu_us(), hand.cpu_us()),
        sdk.allocs(), hand.allocs(), sdk.allocs() - hand.allocs(),
        sdk.rate(), hand.rate(), throughput_ratio(&sdk, &hand),
    );
    row
}
