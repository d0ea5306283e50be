//! `frontdoor`: the telephony IVR and call-handling engine for 211 lines.
//!
//! This binary is the thin layer around the sans-IO cores: it parses the
//! command line and config, binds sockets, and wires the SIP user agent
//! (`frontdoor-sip`) to one call task per call (`call/`), which drives the
//! media (`frontdoor-media`), the call's logic (`logic.rs`) and its legs'
//! B2BUA core (`call/b2bua.rs`); the queues' task (`queues/`) drives the ACD
//! (`frontdoor-acd`).

mod call;
mod config;
mod cti_glue;
mod dial_plan;
mod flow_cmd;
mod flows;
mod logic;
mod phones;
mod queues;
mod regions_cmd;
mod registrar;
mod sip_driver;
mod tls;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use frontdoor_media::session::PortAllocator;
use frontdoor_sip::ua::{UaConfig, UserAgent};
use tokio::sync::watch;

use crate::config::Config;

/// frontdoor answers calls to a 211 line: SIP and RTP, bilingual IVR flows
/// in YAML, routing by region with a crisis fast-path.
#[derive(Debug, Parser)]
#[command(name = "frontdoor", version, about, long_about = None)]
struct Cli {
    /// Config file (TOML). Default: frontdoor.toml in the working directory
    /// if it exists; every key has a default (see frontdoor.example.toml).
    #[arg(long, global = true, env = "FRONTDOOR_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Log format: human-readable text, or one JSON object per line.
    /// The level comes from RUST_LOG (default: info).
    #[arg(long, global = true, env = "FRONTDOOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    /// The store: sqlite://PATH or postgres://… [config: cti.db; default
    /// sqlite://frontdoor.db].
    #[arg(long, global = true, env = "FRONTDOOR_DB", value_name = "URL")]
    db: Option<String>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Answer calls (the default when no command is given).
    Serve(ServeArgs),
    /// The call flows: check, simulate, test and draw them (no network);
    /// list their versions and roll back to one (the store).
    #[command(subcommand)]
    Flow(flow_cmd::FlowCommand),
    /// The region table from the central-office code list (flows/regions.csv).
    #[command(subcommand)]
    Regions(regions_cmd::RegionsCommand),
    /// Manage the accounts of navigators, supervisors and operations staff.
    #[command(subcommand)]
    User(frontdoor_cti::UserCommand),
    /// Import or check the taxonomy navigators code needs with.
    #[command(subcommand)]
    Taxonomy(frontdoor_cti::TaxonomyCommand),
    /// Look after the store.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Needs and trends: a report over a period (docs/reports.md).
    Report(frontdoor_cti::reports::ReportCommand),
    /// The community resource directory: import, check, generate, search
    /// (docs/directory.md).
    #[command(subcommand)]
    Directory(frontdoor_cti::directory::DirectoryCommand),
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    /// Replace the caller numbers of calls older than the retention period
    /// by a keyed hash (reports still count repeat callers); audited. The
    /// engine does it daily when `[cti] retention_days` is set.
    Purge {
        /// Calls that arrived more than this many days ago; default
        /// `[cti] retention_days`.
        #[arg(long)]
        older_than_days: Option<u32>,
    },
    /// Fill an empty store with a synthetic year of calls, logs and needs,
    /// to try the reports and time them. Never on a live store: a store
    /// that has calls is refused unless --append is given.
    Generate {
        /// How many calls (the incident's surge included).
        #[arg(long)]
        calls: u64,
        /// The period's first day, in `[cti] timezone`.
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: jiff::civil::Date,
        /// The period's length in days.
        #[arg(long, default_value_t = frontdoor_cti::reports::generate::DEFAULT_DAYS)]
        days: u32,
        /// The same seed gives the same data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Add to a store that already has calls.
        #[arg(long)]
        append: bool,
    },
}

#[derive(Debug, Clone, Default, Args)]
struct ServeArgs {
    /// SIP address for UDP and TCP [config: sip.listen; default 0.0.0.0:5060].
    #[arg(long, env = "FRONTDOOR_SIP", value_name = "ADDR")]
    sip: Option<SocketAddr>,

    /// The address peers reach this host at, put in Via, Contact and SDP
    /// [config: sip.advertise; default: the SIP address, or this host's
    /// primary address when that is 0.0.0.0].
    #[arg(long, env = "FRONTDOOR_ADVERTISE", value_name = "IP")]
    advertise: Option<IpAddr>,

    /// RTP port range, one even port per call [config: media.rtp_ports;
    /// default 20000-29999].
    #[arg(long, env = "FRONTDOOR_RTP_PORTS", value_name = "A-B")]
    rtp_ports: Option<String>,

    /// Prompts folder: <DIR>/en/*.wav, <DIR>/fr/*.wav, 8 kHz mono 16-bit
    /// [config: media.prompts; default prompts].
    #[arg(long, env = "FRONTDOOR_PROMPTS", value_name = "DIR")]
    prompts: Option<PathBuf>,

    /// Flows folder: 211.yaml, centres.yaml, regions.csv [config: flows.dir;
    /// default flows].
    #[arg(long, env = "FRONTDOOR_FLOWS", value_name = "DIR")]
    flows: Option<PathBuf>,

    /// HTTP address of the API, the CTI websocket, /healthz and /metrics
    /// [config: cti.http; default 0.0.0.0:8211].
    #[arg(long, env = "FRONTDOOR_HTTP", value_name = "ADDR")]
    http: Option<SocketAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("frontdoor: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let serving = matches!(cli.command, None | Some(Command::Serve(_)));
    let result = runtime.block_on(async {
        let mut config = Config::load(cli.config.as_deref())?;
        if let Some(db) = cli.db {
            config.cti.db = db;
        }
        match cli.command {
            Some(Command::Serve(args)) => serve(config, args).await,
            None => serve(config, ServeArgs::default()).await,
            Some(Command::Flow(cmd)) if cmd.needs_store() => {
                let store = open_store(&config).await?;
                flow_cmd::run_with_store(&config, &store, cmd).await
            }
            Some(Command::Flow(cmd)) => flow_cmd::run(&config, cmd),
            Some(Command::Regions(cmd)) => regions_cmd::run(&config, cmd),
            Some(Command::User(cmd)) => {
                if let frontdoor_cti::UserCommand::Add { centre, .. } = &cmd {
                    check_centre(&config, centre)?;
                }
                let store = open_store(&config).await?;
                let out = frontdoor_cti::run_user_command(&store, cmd, std::io::stdin()).await?;
                println!("{}", out.trim_end());
                Ok(true)
            }
            Some(Command::Report(cmd)) => {
                let store = open_store(&config).await?;
                let out = frontdoor_cti::reports::run_report_command(
                    &store,
                    &config.reports,
                    &config.cti.timezone,
                    cmd,
                )
                .await?;
                print!("{out}");
                Ok(true)
            }
            Some(Command::Directory(cmd)) => {
                use frontdoor_cti::directory::DirectoryCommand;
                // Checking and generating files touch no store.
                let store = match &cmd {
                    DirectoryCommand::Check { .. } | DirectoryCommand::Generate { .. } => None,
                    _ => {
                        let store = open_store(&config).await?;
                        // An import indexes services with the taxonomy's
                        // names: the starter one when none was imported.
                        if matches!(cmd, DirectoryCommand::Import { .. }) {
                            store
                                .seed_taxonomy(&config.flows.dir.join("taxonomy.csv"))
                                .await?;
                        }
                        Some(store)
                    }
                };
                let out = frontdoor_cti::directory::run_directory_command(
                    store.as_ref(),
                    &config.cti.timezone,
                    cmd,
                )
                .await?;
                print!("{out}");
                Ok(true)
            }
            Some(Command::Taxonomy(cmd)) => {
                let store = open_store(&config).await?;
                let out = frontdoor_cti::run_taxonomy_command(&store, cmd).await?;
                println!("{}", out.trim_end());
                Ok(true)
            }
            Some(Command::Store(StoreCommand::Purge { older_than_days })) => {
                let days = older_than_days.unwrap_or(config.cti.retention_days);
                anyhow::ensure!(
                    days > 0,
                    "no retention period: pass --older-than-days N or set [cti] retention_days"
                );
                let store = open_store(&config).await?;
                let report = purge(&store, days, "cli").await?;
                println!(
                    "{} call records older than {days} days: {} numbers replaced by their hash, {} drafts deleted",
                    report.records, report.numbers, report.drafts
                );
                Ok(true)
            }
            Some(Command::Store(StoreCommand::Generate {
                calls,
                from,
                days,
                seed,
                append,
            })) => {
                use frontdoor_cti::reports::generate::{GenerateOptions, INCIDENT_TAG, generate};
                let timezone = jiff::tz::TimeZone::get(&config.cti.timezone)
                    .with_context(|| format!("cti.timezone {:?}", config.cti.timezone))?;
                let store = open_store(&config).await?;
                let started = std::time::Instant::now();
                let options = GenerateOptions {
                    calls,
                    from,
                    days,
                    seed,
                    timezone,
                    append,
                };
                let g = generate(&store, &options).await?;
                println!(
                    "{} calls generated ({} logs, {} needs, {} referrals, {} follow-ups, {} calls of incident {INCIDENT_TAG}) in {:.1} s",
                    g.calls,
                    g.logs,
                    g.needs,
                    g.referrals,
                    g.follow_ups,
                    g.incident_calls,
                    started.elapsed().as_secs_f64()
                );
                Ok(true)
            }
        }
    });
    match result {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(error) => {
            // The engine's log gets the reason too; a command at a prompt
            // says it once.
            if serving {
                tracing::error!("{error:#}");
            }
            eprintln!("frontdoor: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Hashes the caller numbers of calls older than `days` (see
/// [`frontdoor_cti::Store::purge_callers`]).
async fn purge(
    store: &frontdoor_cti::Store,
    days: u32,
    actor: &str,
) -> anyhow::Result<frontdoor_cti::store::PurgeReport> {
    let now = frontdoor_cti::now_ms();
    let cutoff = now - i64::from(days) * 86_400_000;
    Ok(store.purge_callers(cutoff, actor, now).await?)
}

/// The store a command works on (`--db`), for `user`, `taxonomy` and `store`.
async fn open_store(config: &Config) -> anyhow::Result<frontdoor_cti::Store> {
    frontdoor_cti::Store::connect(&config.cti.db)
        .await
        .with_context(|| {
            format!(
                "opening the store {}",
                frontdoor_cti::store::redacted(&config.cti.db)
            )
        })
}

fn init_logging(format: LogFormat) {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The DTLS library of the browser phones warns of every TLS extension
    // a browser offers that it does not use (18 for each of Chromium's
    // connections): noise, not news. Its errors stay; RUST_LOG naming it
    // decides for itself.
    if !std::env::var("RUST_LOG").is_ok_and(|v| v.contains("rtc_dtls"))
        && let Ok(quiet) = "rtc_dtls=error".parse()
    {
        filter = filter.add_directive(quiet);
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal, plain text for files and journals.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// An account's centre must be one of the flows' centres (centres.yaml),
/// or the queues would never offer it a call.
fn check_centre(config: &Config, centre: &str) -> anyhow::Result<()> {
    let flows = shipped_dir(&config.flows.dir);
    let set = frontdoor_ivr::FlowSet::load(&flows, &shipped_dir(&config.media.prompts))
        .map_err(|_| {
            anyhow::anyhow!(
                "cannot check --centre {centre}: the flows in {} do not load (frontdoor flow check)",
                flows.display()
            )
        })?;
    if set.centre(centre).is_none() {
        let known: Vec<&str> = set.centres.iter().map(|c| c.id.as_str()).collect();
        anyhow::bail!(
            "unknown centre `{centre}`: {} has {}",
            flows.join("centres.yaml").display(),
            known.join(", ")
        );
    }
    Ok(())
}

/// Runs until SIGTERM; `Ok(true)` after a clean drain.
async fn serve(mut config: Config, args: ServeArgs) -> anyhow::Result<bool> {
    if let Some(sip) = args.sip {
        config.sip.listen = sip;
    }
    if let Some(ip) = args.advertise {
        config.sip.advertise = Some(ip);
    }
    if let Some(ports) = args.rtp_ports {
        config.media.rtp_ports = ports;
    }
    if let Some(prompts) = args.prompts {
        config.media.prompts = prompts;
    }
    if let Some(flows) = args.flows {
        config.flows.dir = flows;
    }
    if let Some(http) = args.http {
        config.cti.http = http;
    }
    config.validate()?;
    let rtp_ports = config::parse_port_range(&config.media.rtp_ports)?;

    // SIP first: a port in use is the most common start-up refusal.
    let mut sockets = sip_driver::Sockets::bind(config.sip.listen).await?;
    let tls = match config.tls.files()? {
        Some((cert, key)) => Some(tls::server_config(cert, key)?),
        None => None,
    };
    if let Some(tls) = &tls {
        let listen = config.tls.sip_listen.unwrap_or_else(|| {
            let port = if config.sip.listen.port() == 0 {
                0
            } else {
                5061
            };
            SocketAddr::new(config.sip.listen.ip(), port)
        });
        sockets
            .bind_tls(listen, tokio_rustls::TlsAcceptor::from(tls.clone()))
            .await?;
    }

    let flows = flows::Flows::load(
        shipped_dir(&config.flows.dir),
        shipped_dir(&config.media.prompts),
    )
    .context("the flows are not usable; fix them (frontdoor flow check) and start again")?;
    flows
        .clone()
        .watch(Some(Duration::from_millis(config.flows.reload_poll_ms)).filter(|d| !d.is_zero()));

    let cti_config = frontdoor_cti::CtiConfig {
        allow_plain_http_login: config.tls.allow_plain_http_login,
        reports: config.reports.clone(),
        ..config.cti.to_cti()
    };
    let (cti, navigator_commands) =
        frontdoor_cti::Cti::start(cti_config)
            .await
            .with_context(|| {
                format!(
                    "opening the store {}",
                    frontdoor_cti::store::redacted(&config.cti.db)
                )
            })?;
    let starter = flows.flows_dir.join("taxonomy.csv");
    if cti
        .store()
        .seed_taxonomy(&starter)
        .await
        .with_context(|| format!("importing the starter taxonomy {}", starter.display()))?
    {
        tracing::info!(file = %starter.display(), "starter taxonomy imported");
    }
    // What the last run spooled goes into the store, then the calls it never
    // ended (it was killed, the machine failed) are closed as interrupted:
    // before any new call arrives and before the queues restore callbacks.
    if tokio::time::timeout(Duration::from_secs(60), cti.recovered())
        .await
        .is_err()
    {
        tracing::error!(
            "the store has not taken the last run's spooled call records within 60 s: starting anyway; they go in when it answers"
        );
    }
    if config.cti.retention_days > 0 {
        // Daily (and now): caller numbers past the retention period become
        // keyed hashes.
        let (store, days) = (cti.store().clone(), config.cti.retention_days);
        tokio::spawn(async move {
            let mut daily = tokio::time::interval(Duration::from_secs(86_400));
            loop {
                daily.tick().await;
                match purge(&store, days, "system").await {
                    Ok(r) => tracing::info!(
                        records = r.records,
                        numbers = r.numbers,
                        drafts = r.drafts,
                        days,
                        "retention: old callers' numbers hashed"
                    ),
                    Err(error) => {
                        tracing::error!(error = %format!("{error:#}"), "retention: purge failed")
                    }
                }
            }
        });
    }
    let http = tokio::net::TcpListener::bind(config.cti.http)
        .await
        .with_context(|| format!("cannot bind HTTP on {}", config.cti.http))?;
    let http_addr = http.local_addr()?;
    let (http_stop, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let stopped = async {
        let _ = http_stopped.await;
    };
    let http_task = match &tls {
        Some(tls) => tokio::spawn(frontdoor_cti::serve_tls(
            http,
            cti.clone(),
            tls.clone(),
            stopped,
        )),
        None => tokio::spawn(frontdoor_cti::serve(http, cti.clone(), stopped)),
    };
    let (emergency, incident) = cti_glue::wire(&cti, &flows, &config.cti.transfer_destinations);
    cti.set_flow_console(flows.clone());

    let local = sockets.local_addr();
    let sockets_tls = sockets.tls_addr();
    let advertise = config
        .sip
        .advertise
        .unwrap_or_else(|| advertised_ip(local.ip()));
    // RTP binds where SIP listens; the advertised address may be a NAT's.
    let rtp_bind = local.ip();
    let ports = PortAllocator::new(rtp_ports);
    let browsers = phones::Browsers::default();
    if config.media.webrtc {
        let bind = SocketAddr::new(rtp_bind, config.media.webrtc_port);
        match phones::start(&cti, &browsers, bind, advertise).await {
            Ok(public) => tracing::info!(%public, "browser phones: WebRTC listening"),
            Err(error) => {
                tracing::error!(%bind, %error, "browser phones: the WebRTC port cannot be had; navigators use SIP phones")
            }
        }
    }

    let ua = UserAgent::new(UaConfig {
        timers: config.timers(),
        numbers: config.sip.numbers.clone(),
        local_addr: SocketAddr::new(advertise, local.port()),
        max_calls: config.calls.max_calls,
        max_message: config.sip.max_message_bytes,
        registrar: true,
        guard: config.limits.to_guard(&config.sip.trusted_proxies)?,
        tls_port: sockets.tls_addr().map(|a| a.port()),
        ack_wait: Duration::from_secs(config.limits.ack_wait_s),
        session_timer: frontdoor_sip::ua::SessionTimerConfig {
            min: Duration::from_secs(config.sip.session_min_s),
            max: Duration::from_secs(config.sip.session_max_s),
        },
        accept_from: config.trunk.accept_from()?,
        ..UaConfig::default()
    });
    let (register_responses, responses) = tokio::sync::mpsc::unbounded_channel();
    let (register_events, contacts) = registrar::start(
        config.registrar.to_registrar()?,
        frontdoor_cti::throttle::Throttle::new(
            config.limits.register_failures_per_user,
            config.limits.register_failures_per_source,
            Duration::from_secs(config.limits.register_backoff_s),
        ),
        cti.store().clone(),
        register_responses,
        browsers.clone(),
    )
    .await
    .context("starting the registrar")?;
    let status = cti.status().clone();
    let acd_config = queues::acd_config(&config, &flows.current().set);
    let stats_config = queues::stats_config(&config);
    let timezone = jiff::tz::TimeZone::get(&config.cti.timezone)
        .with_context(|| format!("cti.timezone {:?}", config.cti.timezone))?;
    frontdoor_acd::Acd::new(acd_config.clone(), std::time::Instant::now())
        .context("the queues cannot start with these centres")?;
    let (dialer, dialer_inbox) = sip_driver::dialer();
    let (queue_handle, queue_inbox) = queues::channel();
    let (calls_tx, mut calls_rx) = watch::channel(0usize);
    let shared = Arc::new(call::Shared {
        reserve_from: config.calls.reserve_from(),
        flows: flows.clone(),
        emergency,
        incident,
        events: cti.events(),
        status: cti.status().clone(),
        ports,
        media_ip: advertise,
        rtp_bind,
        answer_delay: Duration::from_millis(config.calls.answer_delay_ms),
        rtp_timeout: Some(Duration::from_secs(config.media.rtp_timeout_s)).filter(|t| !t.is_zero()),
        trunk: config.trunk.clone(),
        dialer,
        queues: queue_handle.clone(),
        callbacks: config.queues.callback && !config.trunk.proxy.is_empty(),
        trusted: call::TrustedPeers::parse(&config.sip.trusted_proxies)
            .map_err(|e| anyhow::anyhow!("sip.trusted_proxies: {e}"))?,
        browsers,
    });
    let start_callback: queues::StartCallback = {
        let (shared, queues) = (shared.clone(), queue_handle.clone());
        Box::new(move |cb, orders| {
            tokio::spawn(call::callback::run(
                cb,
                shared.clone(),
                queues.clone(),
                orders,
            ));
        })
    };
    tokio::spawn(queues::run(
        queues::Wiring {
            config: acd_config,
            cti: cti.clone(),
            events: cti.events(),
            store: cti.store().clone(),
            contacts,
            flows: flows.clone(),
            start_callback,
            stats: stats_config,
            timezone,
            overflow_wait: Duration::from_secs(config.queues.overflow_wait_s),
        },
        queue_inbox,
        navigator_commands,
    ));
    // Each caller's task holds a clone until it has finished: at the end,
    // the count says how many are still closing their media and recording
    // their end.
    let live_calls = Arc::new(());
    let spawn: sip_driver::SpawnCall = {
        let live = live_calls.clone();
        Box::new(move |incoming, handle, events| {
            let (shared, live) = (shared.clone(), live.clone());
            tokio::spawn(async move {
                call::run(shared, incoming, handle, events).await;
                drop(live);
            });
        })
    };

    let (drain_tx, drain_rx) = watch::channel(None);
    let gauge = status.clone();
    tokio::spawn(async move {
        while calls_rx.changed().await.is_ok() {
            let n = *calls_rx.borrow_and_update();
            gauge.set_calls_in_progress(i64::try_from(n).unwrap_or(i64::MAX));
        }
    });
    let drain_limit = Duration::from_secs(config.calls.drain_timeout_s);
    status.set_call_limit(i64::try_from(config.calls.max_calls).unwrap_or(i64::MAX));
    let draining = status.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        // /healthz says so at once: a load balancer routes new calls away.
        draining.set_draining();
        drain_tx.send_replace(Some(drain_limit));
        // A second signal: stop waiting for calls.
        wait_for_signal().await;
        tracing::warn!("second signal: hanging up every call now");
        drain_tx.send_replace(Some(Duration::ZERO));
        std::future::pending::<()>().await;
    });

    tracing::info!(
        sip = %local,
        sip_tls = ?sockets_tls,
        http = %http_addr,
        https = tls.is_some(),
        db = %frontdoor_cti::store::redacted(&config.cti.db),
        advertise = %advertise,
        rtp_ports = %config.media.rtp_ports,
        numbers = ?config.sip.numbers,
        "frontdoor is answering calls"
    );
    sip_driver::run(
        sockets,
        ua,
        sip_driver::TcpLimits {
            max_message: config.sip.max_message_bytes,
            max_connections: config.limits.tcp_connections,
            per_source: config.limits.tcp_connections_per_source,
            idle: Duration::from_secs(config.limits.tcp_idle_s),
            message: Duration::from_secs(config.limits.tcp_message_s),
            exempt: config.limits.to_guard(&config.sip.trusted_proxies)?,
        },
        spawn,
        sip_driver::Wiring {
            drain: drain_rx,
            crisis_grace: Duration::from_secs(config.calls.drain_crisis_extra_s),
            calls_gauge: calls_tx,
            on_response: Box::new({
                let status = status.clone();
                move |code| status.count_sip_response(code)
            }),
            on_shed: Box::new(move |why| status.count_shed(why.as_str())),
            registrations: sip_driver::Registrations {
                events: register_events,
                responses,
            },
            dialer: dialer_inbox,
            trunks: config.trunk.trunks(&config.sip.numbers).await?,
            on_trunks: Box::new({
                let status = cti.status().clone();
                move |trunks| status.set_trunks(trunks.iter().map(trunk_health).collect())
            }),
        },
    )
    .await?;
    // The calls hung up last (at the drain limit) finish ending: their
    // media closed, their end logged and recorded.
    let finishing = tokio::time::Instant::now() + Duration::from_secs(3);
    while Arc::strong_count(&live_calls) > 1 && tokio::time::Instant::now() < finishing {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Close the navigators' websockets (they reconnect to the next start)
    // and let the call records still queued reach the store.
    let _ = http_stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), http_task).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), cti.events().flush()).await;
    Ok(true)
}

/// The default relative folders (`prompts`, `flows`) resolve against the
/// working directory, then against the source checkout the binary was built
/// from, so `cargo run` works from any folder of the checkout.
pub(crate) fn shipped_dir(configured: &std::path::Path) -> PathBuf {
    if configured.is_relative() && !configured.exists() {
        let shipped = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(configured);
        if shipped.exists() {
            return shipped;
        }
    }
    configured.to_path_buf()
}

/// When listening on a wildcard address, advertise this host's primary
/// address: the first non-loopback address its own name resolves to
/// (from /etc/hosts; no packet leaves the host), else loopback.
fn advertised_ip(listen: IpAddr) -> IpAddr {
    if !listen.is_unspecified() {
        return listen;
    }
    // The source address the kernel would use on the default route: a UDP
    // "connect" sends nothing, it only picks the route (198.51.100.1 is a
    // documentation address, RFC 5737).
    let routed = std::net::UdpSocket::bind(("0.0.0.0", 0))
        .and_then(|socket| {
            socket.connect(("198.51.100.1", 9))?;
            socket.local_addr()
        })
        .ok()
        .map(|a| a.ip())
        .filter(|ip| !ip.is_unspecified() && !ip.is_loopback());
    // Else what the host name resolves to.
    let named = || {
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        std::net::ToSocketAddrs::to_socket_addrs(&(name.trim(), 0))
            .ok()
            .and_then(|mut addrs| addrs.find(|a| a.is_ipv4() && !a.ip().is_loopback()))
            .map(|a| a.ip())
    };
    routed.or_else(named).unwrap_or_else(|| {
        tracing::warn!("cannot tell this host's address: advertising 127.0.0.1; set --advertise");
        IpAddr::from([127, 0, 0, 1])
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    // Installing a handler fails only if signals are unusable in this process.
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
    }
}

/// A trunk's state as `/healthz` and the metrics report it.
fn trunk_health(t: &frontdoor_sip::trunk::TrunkStatus) -> frontdoor_cti::TrunkHealth {
    use frontdoor_sip::trunk::RegistrationState;
    let (registration, registration_code) = match &t.registration {
        None => (None, None),
        Some(RegistrationState::Registering) => (Some("registering"), None),
        Some(RegistrationState::Registered { .. }) => (Some("registered"), None),
        Some(RegistrationState::Failed { code, .. }) => (Some("failed"), Some(*code)),
    };
    frontdoor_cti::TrunkHealth {
        name: t.name.clone(),
        up: t.up,
        reachable: t.reachable,
        registration,
        registration_code,
    }
}
