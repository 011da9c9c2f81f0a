//! `cloudshop bench` end to end, briefly: the shipped service binaries
//! (`cloudshop release build`), one second per workload, wrk and the load
//! generator, the shop's CPU cost of each, the oversell check. It proves
//! the command works and reports every figure; the performance itself
//! lives in docs/benchmarks.md, not in a test.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cloudshop_host::bounded::run_bounded;
use cloudshop_topology::NAMES;
use serde_json::Value;

#[test]
fn bench_runs_every_workload_and_reports_the_services() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("root");
    // The shipped binaries, as a user makes them (`cloudshop release build`): the
    // same static build the release, compose and cluster tests use, so one
    // run of the test command builds it once (cargo's cache in target/).
    let scratch = tempfile::tempdir().expect("scratch");
    let dist = scratch.path().join("dist");
    // Bounded like everything the test runs: a build from nothing takes
    // about 8 minutes here, the bench itself about 15 s. Past the limit the
    // test fails with where the command stood, instead of holding the test
    // command until CI stops it.
    let mut build = Command::new(env!("CARGO_BIN_EXE_cloudshop"));
    build
        .args(["release", "build", "--platform", "linux/amd64", "--workspace"])
        .arg(root)
        .arg("--dist")
        .arg(&dist);
    let build = run_bounded(build, Duration::from_secs(30 * 60)).expect("cloudshop release build");
    assert!(
        build.status.success(),
        "cloudshop release build: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    for service in NAMES {
        assert!(
            dist.join("bin").join(service).is_file(),
            "{service} was not built"
        );
    }
    let json = scratch.path().join("bench.json");
    let chart = scratch.path().join("latency.svg");
    let mut bench = Command::new(env!("CARGO_BIN_EXE_cloudshop"));
    bench
        .args(["bench", "--seconds", "1", "--rate", "20", "--dist"])
        .arg(scratch.path().join("dist"))
        .arg("--json")
        .arg(&json)
        .arg("--chart")
        .arg(&chart);
    let output = run_bounded(bench, Duration::from_secs(5 * 60)).expect("cloudshop bench");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Every service stopped on SIGTERM (the bench kills and names one that
    // does not).
    let progress = String::from_utf8_lossy(&output.stderr);
    assert!(!progress.contains("did not stop"), "{progress}");
    assert!(
        printed.contains("| run | endpoint | requests | req/s |"),
        "{printed}"
    );
    assert!(
        printed.contains("| shop CPU s / 1k req | generator |"),
        "{printed}"
    );
    assert!(printed.contains(": no oversell"), "{printed}");
    assert!(
        printed.contains("| service | image MB | start to ready ms |"),
        "{printed}"
    );

    let results: Value = serde_json::from_slice(&std::fs::read(&json).expect("json")).expect("results");
    let workloads = results["workloads"].as_array().expect("workloads");
    let labels: Vec<&str> = workloads.iter().filter_map(|w| w["label"].as_str()).collect();
    for expected in [
        "catalogue, 64 users",
        "product page, 64 users",
        "storefront home, 64 users",
        "login, 8 users",
        "orders, 32 users",
        "catalogue, open loop 1000/s",
        "login flood, 16 users",
        "catalogue during the flood, open loop 1000/s",
    ] {
        assert!(labels.contains(&expected), "{labels:?}");
    }
    for workload in workloads {
        for endpoint in workload["endpoints"].as_array().expect("endpoints") {
            assert!(endpoint["requests"].as_u64().expect("requests") > 0, "{workload}");
            // The bench printed what the services logged about any errors.
            assert_eq!(endpoint["errors"], 0, "{workload}\n{progress}");
        }
    }
    // wrk drives the single-endpoint workloads, the load generator's own
    // journeys the mix and the paced catalogue readers (alone and beside the
    // login flood); every one says what the shop spent on it.
    for workload in workloads {
        let label = workload["label"].as_str().expect("label");
        let expected = if label.starts_with("shopper mix")
            || label.ends_with("load generator")
            || label.contains("open loop")
        {
            "loadgen"
        } else {
            "wrk"
        };
        assert_eq!(workload["generator"], expected, "{workload}");
        let cost = workload["shop_cpu_s_per_1k"].as_f64().expect("CPU per 1k");
        assert!(cost > 0.0, "{workload}");
    }
    let (taken, reserved, confirmed) = (
        results["orders_stock_taken"].as_i64().expect("taken"),
        results["orders_reserved_units"].as_i64().expect("reserved"),
        results["orders_confirmed_units"].as_i64().expect("confirmed"),
    );
    assert!(
        taken > 0 && taken == reserved && confirmed <= reserved,
        "{results}"
    );
    // The mix holds all four shopper endpoints.
    let mix = workloads.last().expect("mix");
    assert_eq!(mix["endpoints"].as_array().expect("endpoints").len(), 4, "{mix}");
    let services = results["services"].as_array().expect("services");
    assert_eq!(services.len(), 5);
    for service in services {
        assert!(service["idle_rss_mb"].as_f64().expect("rss") > 0.0, "{service}");
        assert!(service["ready_ms"].as_f64().expect("ready") > 0.0, "{service}");
    }
    assert!(results["argon2_median_ms"].as_f64().expect("argon2") > 0.0);
    let svg = std::fs::read_to_string(&chart).expect("chart");
    assert!(svg.starts_with("<svg") && svg.contains("catalogue, 64 users"));
}
