//! `ferrocache [config-file] [--param value ...]`: read the configuration, set up logging, serve.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::{reload, EnvFilter};

use ferrocache::config::{self, Config};
use ferrocache::server;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser, Debug)]
#[command(
    name = "ferrocache",
    version,
    about = "A Redis-compatible in-memory cache server",
    after_help = "Examples:\n  ferrocache                              (defaults: 127.0.0.1:6379)\n  \
                  ferrocache /etc/ferrocache.conf\n  ferrocache --port 7777\n  \
                  ferrocache config/ferrocache.conf --loglevel verbose --bind \"0.0.0.0\""
)]
struct Cli {
    /// An optional config file (redis.conf syntax), then any parameter as `--name value`.
    #[arg(
        allow_hyphen_values = true,
        trailing_var_arg = true,
        value_name = "CONFIG-FILE] [--NAME VALUE"
    )]
    args: Vec<String>,
}

/// Maps Redis log levels onto tracing filters.
fn filter_for(level: &str) -> EnvFilter {
    let f = match level {
        "debug" => "debug",
        "verbose" => "info",
        "notice" => "info",
        "warning" => "warn",
        _ => "off",
    };
    EnvFilter::new(f)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (file, rest) = match cli.args.first() {
        Some(first) if !first.starts_with("--") => (Some(PathBuf::from(first)), &cli.args[1..]),
        _ => (None, &cli.args[..]),
    };
    let cfg =
        config::parse_args(rest).and_then(|overrides| Config::load(file.as_deref(), &overrides));
    let cfg = match cfg {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };

    if cfg.daemonize.get() {
        eprintln!(
            "ferrocache does not daemonize itself (daemonize yes): run it in the foreground under \
             systemd, Docker or another supervisor, with daemonize no"
        );
        return ExitCode::FAILURE;
    }
    let (filter, reload_handle) = reload::Layer::new(filter_for(&cfg.loglevel.get()));
    if let Err(e) = init_logging(&cfg, filter) {
        eprintln!("Can't open the log file: {e}");
        return ExitCode::FAILURE;
    }
    let hook: Box<dyn Fn(&str) + Send + Sync> = Box::new(move |level: &str| {
        let _ = reload_handle.reload(filter_for(level));
    });

    // Both rustls providers may be compiled in through dependencies; pick one explicitly.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let pidfile = cfg.pidfile.get();
    if !pidfile.is_empty() {
        if let Err(e) = std::fs::write(&pidfile, format!("{}\n", std::process::id())) {
            tracing::warn!("Failed to write PID file {pidfile}: {e}");
        }
    }
    let threads = match cfg.io_threads.get() {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n as usize,
    };
    ferrocache::metrics::memory::set_io_threads(threads);
    // One thread: a single-threaded runtime, with no cross-thread wake-ups at all.
    let runtime = if threads == 1 {
        ferrocache::server::outbox::enable();
        ferrocache::server::busy_poll::enable();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            // Replies queued during the round go out before the thread waits for events,
            // and then the sockets are polled for a moment (`busy_poll`).
            .on_thread_park(|| {
                // A task woken to finish a reply has work: no poll, and no sleep follows.
                if !ferrocache::server::outbox::flush_all() {
                    ferrocache::server::busy_poll::before_park();
                }
            })
            .on_thread_unpark(ferrocache::server::busy_poll::after_unpark)
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Failed to start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async move {
        let srv = server::Server::new(cfg, Some(hook));
        let acl = srv
            .acl
            .load_at_startup(&srv.commands, &srv.config.users, &srv.aclfile());
        if let Err(e) = acl {
            tracing::error!("{e}");
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
        let listeners = match server::bind(&srv).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("{e}");
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        // The dataset loads on a thread of its own while clients connect and get -LOADING.
        srv.loading
            .on
            .store(true, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(
            "ferrocache {} (Redis {} compatible) PID: {} port {}",
            env!("CARGO_PKG_VERSION"),
            ferrocache::command::connection::REDIS_VERSION,
            std::process::id(),
            srv.tcp_port.load(std::sync::atomic::Ordering::Relaxed)
        );
        let serving = tokio::spawn(server::serve(srv.clone(), listeners));
        let loader = srv.clone();
        let loaded =
            tokio::task::spawn_blocking(move || ferrocache::persistence::load_at_start(&loader))
                .await
                .unwrap_or_else(|e| Err(format!("loading failed: {e}")));
        match loaded {
            Ok(Some(msg)) => tracing::info!("{msg}"),
            Ok(None) => {}
            Err(e) => {
                // The reason is the log's last line, and nothing is saved: the server exits
                // at once, as Redis does.
                tracing::error!("{e}");
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
        srv.loading
            .on
            .store(false, std::sync::atomic::Ordering::Relaxed);
        // Redis's words: scripts and test suites wait for them.
        tracing::info!(
            "Ready to accept connections tcp (ferrocache {}, PID: {}, port {})",
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            srv.tcp_port.load(std::sync::atomic::Ordering::Relaxed)
        );
        #[cfg(target_os = "linux")]
        server::supervise::notify_ready(&srv.config.supervised.get());
        let _ = serving.await;
        ExitCode::SUCCESS
    });
    if !pidfile.is_empty() {
        let _ = std::fs::remove_file(&pidfile);
    }
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    code
}

fn init_logging(
    cfg: &Config,
    filter: reload::Layer<EnvFilter, tracing_subscriber::Registry>,
) -> std::io::Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let logfile = cfg.logfile.get();
    let json = cfg.log_format.get() == "json";
    let writer = if logfile.is_empty() {
        tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stdout)
    } else {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&logfile)?;
        tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::sync::Mutex::new(f))
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false);
    let format = cfg.log_format.get();
    let fmt = if let Some(kind) = format.strip_prefix("elasticache-") {
        fmt.event_format(ferrocache::metrics::logdelivery::EngineFormat {
            cluster: cfg.cloudwatch_cluster_id.get(),
            node: cfg.cloudwatch_node_id.get(),
            json: kind == "json",
        })
        .boxed()
    } else if json {
        fmt.json().boxed()
    } else {
        fmt.boxed()
    };
    tracing_subscriber::registry().with(filter).with(fmt).init();
    Ok(())
}
