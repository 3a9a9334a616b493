//! `hold ISOLATOR [COUNT] [SECONDS]`: launches COUNT instances of one isolator, prints what
//! each owns (pids, cgroups) and its memory sample, holds them SECONDS (default 30) so that
//! they can be inspected by hand (/proc, the cgroup files, perf), then tears them down.
use std::time::Duration;

use isolators::registry::{self, IsolatorOptions};
use isolators::{Prepared, Workload};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().expect("hold ISOLATOR [COUNT] [SECONDS]");
    let count: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(30);
    let isolator = registry::all(&IsolatorOptions::default())
        .into_iter()
        .find(|i| i.name() == name)
        .unwrap_or_else(|| panic!("no isolator named {name}"));
    let mut prepared = Prepared::new(isolator.as_ref(), &Workload::noop()).expect("prepare");
    let timeout = Duration::from_secs(60);
    let mut held = Vec::new();
    for _ in 0..count {
        let mut instance = prepared.launch().expect("launch");
        instance.wait_ready(timeout).expect("ready");
        held.push(instance);
    }
    for instance in &held {
        println!("{:?}", instance.resources());
        println!("{:?}", instance.memory().expect("memory"));
    }
    println!("holding {count} for {seconds} s");
    std::thread::sleep(Duration::from_secs(seconds));
    for instance in &mut held {
        instance.release().expect("release");
    }
    for mut instance in held {
        instance.wait_gone(timeout).expect("gone");
        println!("cpu_ns {:?}", instance.cpu_ns());
    }
}
